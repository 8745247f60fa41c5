// Plays the part of Elasticsearch's server-cli (not on Maven Central): writes the serialized ServerArgs that
// org.elasticsearch.bootstrap.Elasticsearch reads from stdin. Usage: java -cp 'lib/*' WriteServerArgs.java CONF_DIR LOGS_DIR PIDFILE [key=value ...]
import java.nio.file.Path;
import org.elasticsearch.bootstrap.ServerArgs;
import org.elasticsearch.common.io.stream.OutputStreamStreamOutput;
import org.elasticsearch.common.settings.KeyStoreWrapper;
import org.elasticsearch.common.settings.Settings;

public class WriteServerArgs {
    public static void main(String[] a) throws Exception {
        Settings.Builder b = Settings.builder();
        for (int i = 3; i < a.length; i++) {
            int eq = a[i].indexOf('=');
            b.put(a[i].substring(0, eq), a[i].substring(eq + 1));
        }
        KeyStoreWrapper ks = KeyStoreWrapper.create();
        ServerArgs args = new ServerArgs(false, true, Path.of(a[2]), ks, b.build(), Path.of(a[0]), Path.of(a[1]));
        OutputStreamStreamOutput out = new OutputStreamStreamOutput(System.out);
        args.writeTo(out);
        out.flush();
        System.out.flush();
    }
}

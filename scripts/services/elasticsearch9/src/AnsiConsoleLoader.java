// Stand-in for Elasticsearch's lib/tools/ansi-console jar (not on Maven Central): the server asks it for an
// interactive console; a background node never has one, so it answers "none".
package org.elasticsearch.io.ansi;

import java.util.function.Supplier;

public class AnsiConsoleLoader implements Supplier<Object> {
    public Object get() {
        return null;
    }
}

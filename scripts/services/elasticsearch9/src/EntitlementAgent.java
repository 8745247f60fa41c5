// Stand-in for Elasticsearch's entitlement agent jar (libs/entitlement/agent), which Maven Central does not publish.
// Same behaviour: the server attaches it to itself and it hands the Instrumentation to the entitlement library.
package org.elasticsearch.entitlement.agent;

import java.lang.instrument.Instrumentation;

public class EntitlementAgent {
    public static void agentmain(String agentArgs, Instrumentation inst) throws Exception {
        String cls = (agentArgs == null || agentArgs.isEmpty())
            ? "org.elasticsearch.entitlement.initialization.EntitlementInitialization" : agentArgs;
        Class.forName(cls).getMethod("initialize", Instrumentation.class).invoke(null, inst);
    }
}

// Stand-in for Elasticsearch's rest-root module (GET / and HEAD /), which Maven Central does not publish.
// Answers the same document: node name, cluster name and uuid, version block, tagline.
package sightline.es;

import java.util.Collection;
import java.util.List;
import java.util.function.Predicate;
import java.util.function.Supplier;

import org.elasticsearch.Build;
import org.elasticsearch.client.internal.node.NodeClient;
import org.elasticsearch.cluster.ClusterState;
import org.elasticsearch.cluster.node.DiscoveryNodes;
import org.elasticsearch.cluster.service.ClusterService;
import org.elasticsearch.features.NodeFeature;
import org.elasticsearch.plugins.ActionPlugin;
import org.elasticsearch.plugins.Plugin;
import org.elasticsearch.rest.BaseRestHandler;
import org.elasticsearch.rest.RestHandler;
import org.elasticsearch.rest.RestRequest;
import org.elasticsearch.rest.RestResponse;
import org.elasticsearch.rest.RestStatus;
import org.elasticsearch.xcontent.XContentBuilder;

public class RestRootPlugin extends Plugin implements ActionPlugin {
    private volatile ClusterService clusterService;

    @Override
    public Collection<?> createComponents(PluginServices services) {
        clusterService = services.clusterService();
        return List.of();
    }

    @Override
    public Collection<RestHandler> getRestHandlers(RestHandlersServices services, Supplier<DiscoveryNodes> nodes,
                                                   Predicate<NodeFeature> features) {
        return List.of(new BaseRestHandler() {
            @Override
            public String getName() {
                return "sightline_main_action";
            }

            @Override
            public List<Route> routes() {
                return List.of(new Route(RestRequest.Method.GET, "/"), new Route(RestRequest.Method.HEAD, "/"));
            }

            @Override
            protected RestChannelConsumer prepareRequest(RestRequest request, NodeClient client) {
                return channel -> {
                    ClusterState state = clusterService.state();
                    Build b = Build.current();
                    XContentBuilder x = channel.newBuilder();
                    x.startObject();
                    x.field("name", clusterService.localNode().getName());
                    x.field("cluster_name", state.getClusterName().value());
                    x.field("cluster_uuid", state.metadata().clusterUUID());
                    x.startObject("version")
                        .field("number", b.qualifiedVersion())
                        .field("build_flavor", b.flavor())
                        .field("build_type", b.type().displayName())
                        .field("build_hash", b.hash())
                        .field("build_date", b.date())
                        .field("build_snapshot", b.isSnapshot())
                        .field("lucene_version", org.apache.lucene.util.Version.LATEST.toString())
                        .field("minimum_wire_compatibility_version", b.minWireCompatVersion())
                        .field("minimum_index_compatibility_version", b.minIndexCompatVersion())
                        .endObject();
                    x.field("tagline", "You Know, for Search");
                    x.endObject();
                    channel.sendResponse(new RestResponse(RestStatus.OK, x));
                };
            }
        });
    }
}

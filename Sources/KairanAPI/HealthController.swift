import Hummingbird
import KairanStore
import Metrics
import NIOCore
import Prometheus

/// Liveness, readiness and metrics for the town's monitoring.
struct HealthController {
    let dependencies: APIDependencies

    struct Status: ResponseEncodable {
        let status: String
    }

    func addRoutes(to routes: some RouterMethods<KairanRequestContext>) {
        routes.get("/healthz") { _, _ in Status(status: "ok") }
        routes.get("/readyz", use: ready)
        routes.get("/metrics", use: metrics)
    }

    @Sendable func ready(_ request: Request, context: KairanRequestContext) async throws -> Status {
        do {
            // Bounded: a pool with no free connection, or a frozen server, must not hang it.
            try await dependencies.database.ping(timeLimit: .seconds(3))
            return Status(status: "ready")
        } catch {
            throw APIError(.serviceUnavailable, code: "database_unavailable", message: "the database is not reachable")
        }
    }

    @Sendable func metrics(_ request: Request, context: KairanRequestContext) async throws -> Response {
        var bytes: [UInt8] = []
        KairanMetrics.registry.emit(into: &bytes)
        // Read from the gate when scraped, so requests pay nothing for these two.
        let load = dependencies.admission.load
        bytes.append(contentsOf: Array("""
            # TYPE kairan_requests_running gauge
            kairan_requests_running \(load.running)
            # TYPE kairan_requests_waiting gauge
            kairan_requests_waiting \(load.waiting)

            """.utf8))
        return Response(
            status: .ok,
            headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
            body: .init(byteBuffer: ByteBuffer(bytes: bytes))
        )
    }
}

/// The process-wide Prometheus registry behind swift-metrics.
public enum KairanMetrics {
    public static let registry = PrometheusCollectorRegistry()

    private static let bootstrapped: Void = {
        var factory = PrometheusMetricsFactory(registry: registry)
        // swift-prometheus's buckets start at 5 ms, where most of what Kairan times ends (a
        // health check, a page of posts, a record of mail outcomes): the same up to 10 s,
        // with sub-millisecond ones below.
        factory.defaultDurationHistogramBuckets = [0.25, 0.5, 1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000]
            .map { .microseconds(Int64($0 * 1000)) }
        MetricsSystem.bootstrap(factory)
    }()

    /// Installs the registry as swift-metrics' backend. Safe to call more than once.
    public static func bootstrap() { _ = bootstrapped }
}

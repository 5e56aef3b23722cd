// swift-tools-version:6.1
import PackageDescription

// Swift 6 language mode (strict concurrency) for every target.
let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
]

let package = Package(
    name: "Kairan",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "kairan", targets: ["KairanServer"]),
    ],
    dependencies: [
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/hummingbird-project/hummingbird-auth.git", from: "2.5.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird-websocket.git", from: "2.8.1"),
        .package(url: "https://github.com/hummingbird-project/swift-mustache.git", from: "2.1.1"),
        .package(url: "https://github.com/vapor/postgres-nio.git", from: "1.33.2"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "3.12.3"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
        // Already in the graph through Hummingbird: the HTTP channel with the stream's upgrade
        // (KairanAPI) builds its own pipeline with these codecs.
        .package(url: "https://github.com/apple/swift-nio-extras.git", from: "1.34.1"),
        // Already in the graph through HummingbirdTesting; the tests use it to talk to `kairan` processes.
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
        // The API tests' client is generated from openapi.yaml (scripts/generate-client); this is its runtime.
        .package(url: "https://github.com/apple/swift-openapi-runtime.git", from: "1.13.4"),
        // Tests only: reads openapi.yaml, so every response a test receives is checked against it.
        .package(url: "https://github.com/jpsim/Yams.git", from: "6.2.2"),
    ],
    targets: [
        // Domain: types, validation, permission policy, clock. No I/O.
        .target(
            name: "KairanCore",
            dependencies: [],
            swiftSettings: swiftSettings
        ),
        // PostgresNIO's `query` under another name, for KairanStore's guarded one.
        .target(
            name: "KairanPostgres",
            dependencies: [
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        // PostgreSQL: client configuration, migrator, SQL per area.
        .target(
            name: "KairanStore",
            dependencies: [
                "KairanCore",
                "KairanPostgres",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        // Attachments' bytes: a folder under the data directory, or an S3-compatible bucket.
        .target(
            name: "KairanFiles",
            dependencies: [
                "KairanCore",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
            ],
            swiftSettings: swiftSettings
        ),
        // Live delivery: the stream hub, subscriptions, LISTEN/NOTIFY listener. No WebSocket
        // library here: the socket side lives in KairanAPI's stream route.
        .target(
            name: "KairanGateway",
            dependencies: [
                "KairanCore",
                "KairanStore",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "NIOWebSocket", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        // Background workers: the fan-out core's mail delivery (SMTP client on SwiftNIO, MIME,
        // domain policy, Maildir), the inbound SMTP listener, maintenance.
        .target(
            name: "KairanDelivery",
            dependencies: [
                "KairanCore",
                "KairanStore",
                // The workers call the same use cases as the API (the event reminder).
                "KairanServices",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Crypto", package: "swift-crypto"),
                // Web Push: HTTPS to the browsers' push services.
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
            ],
            swiftSettings: swiftSettings
        ),
        // Use cases: one function per thing a user does; the JSON API, the web pages and the
        // workers call the same ones. Opens the transaction, checks the policy inside it.
        .target(
            name: "KairanServices",
            dependencies: [
                "KairanCore",
                "KairanStore",
                "KairanFiles",
                .product(name: "HummingbirdBcrypt", package: "hummingbird-auth"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        // HTTP routes.
        .target(
            name: "KairanAPI",
            dependencies: [
                "KairanCore",
                "KairanStore",
                "KairanServices",
                "KairanGateway",
                "KairanFiles",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "NIOWebSocket", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
                .product(name: "NIOHTTPTypesHTTP1", package: "swift-nio-extras"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "HummingbirdBcrypt", package: "hummingbird-auth"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        // The town's web pages: server-rendered (swift-mustache) over the same services as
        // the API, cookie sessions, form tokens, one stylesheet and one small script.
        .target(
            name: "KairanWeb",
            dependencies: [
                "KairanCore",
                "KairanStore",
                "KairanServices",
                "KairanAPI",
                // The carrier-mail preview: what a feature phone will show of an alert.
                "KairanDelivery",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Mustache", package: "swift-mustache"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        // The `kairan` executable: config, buildApplication, roles, embedded PostgreSQL.
        .executableTarget(
            name: "KairanServer",
            dependencies: [
                "KairanCore", "KairanStore", "KairanServices", "KairanAPI", "KairanWeb", "KairanGateway", "KairanDelivery", "KairanFiles",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "HummingbirdBcrypt", package: "hummingbird-auth"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        // The API's types and a client, generated from openapi.yaml: tests talk to the server
        // through it, so a response that drifts from the spec fails them.
        .target(
            name: "KairanAPIClient",
            dependencies: [
                .product(name: "OpenAPIRuntime", package: "swift-openapi-runtime"),
            ],
            path: "Tests/KairanAPIClient",
            exclude: ["openapi-generator-config.yaml", "Generated/openapi.yaml.sha256"],
            // Generated code: its warnings (unused public imports) are the generator's to fix.
            swiftSettings: [.unsafeFlags(["-suppress-warnings"])]
        ),
        .testTarget(
            name: "KairanTests",
            dependencies: [
                "KairanAPIClient",
                .product(name: "OpenAPIRuntime", package: "swift-openapi-runtime"),
                .product(name: "Crypto", package: "swift-crypto"),
                "KairanCore", "KairanPostgres", "KairanStore", "KairanServices", "KairanAPI", "KairanWeb", "KairanGateway", "KairanDelivery", "KairanServer", "KairanFiles",
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "HummingbirdWSClient", package: "hummingbird-websocket"),
                .product(name: "HummingbirdWSTesting", package: "hummingbird-websocket"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOWebSocket", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Yams", package: "Yams"),
            ],
            swiftSettings: swiftSettings
        ),
    ],
    swiftLanguageModes: [.v6]
)

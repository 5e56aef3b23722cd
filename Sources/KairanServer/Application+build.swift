import Hummingbird
import HummingbirdCore
import KairanAPI
import KairanCore
import KairanDelivery
import KairanFiles
import KairanGateway
import KairanStore
import KairanWeb
import Logging
import PostgresNIO
import ServiceLifecycle

/// Builds the whole server: the router, the pooled database client and the background
/// services for the configured role. The `serve` command and the tests both call this.
func buildApplication(
    _ configuration: ServerConfiguration,
    clock: any WallClock = SystemWallClock(),
    logger: Logger
) throws -> some ApplicationProtocol {
    // Before any part creates its counters: one made earlier would count into the void.
    KairanMetrics.bootstrap()
    let client = PostgresClient(configuration: try configuration.database.clientConfiguration(maximumConnections: configuration.databasePoolSize), backgroundLogger: logger)
    let database = Database(client: client, logger: logger)
    let hub = configuration.role.servesAPI ? StreamHub(database: database, clock: clock, logger: logger) : nil
    let dependencies = APIDependencies(
        database: database, clock: clock, passwordHasher: configuration.passwordHasher, sessionLifetime: configuration.sessionLifetime,
        streamHub: hub, allowedOrigins: configuration.allowedOrigins, streamQueueLimitBytes: configuration.streamQueueLimitBytes,
        alerts: configuration.mail.alerts, requestTimeout: configuration.requestTimeout, loginThrottle: configuration.loginThrottle,
        admission: configuration.admission ?? .forPool(configuration.databasePoolSize), push: configuration.push,
        publicURL: configuration.mail.identity.publicURL, files: try configuration.files.makeStore(),
        attachmentLimits: configuration.attachmentLimits, heicConverter: configuration.heicConverter)

    let (router, _) = buildRouter(dependencies, includeAPI: configuration.role.servesAPI)
    if configuration.role.servesAPI {
        WebFrontEnd(services: dependencies.services, publicURL: configuration.mail.identity.publicURL).addRoutes(to: router)
    }

    var services: [any Service] = [client]
    if let hub {
        services.append(NotificationListener(url: configuration.database, hub: hub, clock: clock, logger: logger))
    }
    if configuration.role.runsWorkers {
        services.append(MaintenanceWorker(database: database, clock: clock, attachments: dependencies.services.attachments, logger: logger))
        services.append(NoticeScheduler(database: database, listenURL: configuration.database, clock: clock, urgentDeadline: configuration.mail.alerts.urgentDeadline, logger: logger))
        services.append(EventReminderWorker(events: dependencies.services.events, listenURL: configuration.database, clock: clock, logger: logger))
        services.append(try makeMailWorker(configuration.mail, database: database, listenURL: configuration.database, clock: clock, logger: logger))
        // One worker name and one lease for both kinds of delivery (`--delivery-lease`).
        var push = PushDeliveryConfiguration(workerID: configuration.mail.delivery.workerID)
        push.lease = configuration.mail.delivery.lease
        services.append(PushDeliveryWorker(
            database: database, listenURL: configuration.database, contact: "mailto:\(configuration.mail.identity.fromAddress.raw)",
            settings: configuration.push, configuration: push, clock: clock, logger: logger))
        if let weather = configuration.weatherWarnings {
            services.append(WeatherWarningWorker(warnings: dependencies.services.weatherWarnings, configuration: weather, clock: clock, logger: logger))
        }
        if let inbound = configuration.mail.inbound {
            services.append(InboundSMTPService(configuration: inbound, identity: configuration.mail.identity, database: database, clock: clock, logger: logger))
        }
    }
    let upgradeResponder = router.buildResponder()
    let gateway = hub.map {
        StreamGateway(hub: $0, queueLimitBytes: configuration.streamQueueLimitBytes, heartbeatPeriod: configuration.streamHeartbeatPeriod, clock: clock, logger: logger)
    }
    let httpLimits = configuration.httpLimits
    return Application(
        router: router,
        server: HTTPServerBuilder { responder in
            GuardedHTTPChannel(
                StreamUpgradeChannel(
                    responder: responder,
                    upgradeResponder: upgradeResponder,
                    gateway: gateway,
                    http1: .init(
                        // A kept-alive connection that sends nothing (or dribbles a
                        // request head) for this long is closed.
                        idleTimeout: .seconds(60),
                        httpDecoderConfiguration: .init(maxHeaderFieldSize: httpLimits.maxHeadBytes, maxHeaderListSize: httpLimits.maxHeadBytes,
                                                        maxHeaderFieldCount: 200))),
                limits: httpLimits)
        },
        configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: "kairan"),
        services: services,
        logger: logger
    )
}

func makeMailWorker(_ mail: MailConfiguration, database: Database, listenURL: DatabaseURL?, clock: any WallClock, logger: Logger) throws -> MailDeliveryWorker {
    let transport: any MailTransport
    switch mail.destination {
    case .relay(let relay): transport = try SMTPRelayTransport(relay, logger: logger)
    case .maildir(let path): transport = try MaildirTransport(directory: path)
    }
    return MailDeliveryWorker(database: database, listenURL: listenURL, transport: transport, identity: mail.identity, configuration: mail.delivery,
                              clock: clock, logger: logger)
}

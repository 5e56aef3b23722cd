import Foundation
import Hummingbird
import KairanCore
import KairanFiles
import KairanGateway
import KairanServices
import KairanStore

/// What the routes need from the outside world.
public struct APIDependencies: Sendable {
    /// The use cases, shared with the web pages and the workers; they hold the database,
    /// the clock and the settings the routes would otherwise keep a second copy of.
    public let services: Services
    public var database: Database { services.database }
    public var clock: any WallClock { services.clock }
    public var alerts: AlertSettings { services.alerts }
    /// Live delivery; nil in a process that serves no API (worker role).
    public let streamHub: StreamHub?
    /// Origins whose pages may open the WebSocket stream (requests without Origin, from
    /// native apps and servers, are not browser pages and need no entry).
    public let allowedOrigins: Set<String>
    /// Bytes a stream client may leave unread before it is disconnected.
    public let streamQueueLimitBytes: Int
    /// The longest any request may take before it is answered 503 (database waits
    /// included).
    public let requestTimeout: Duration
    /// Sheds requests beyond what the process can work on (503 with Retry-After).
    public let admission: AdmissionGate

    public init(
        database: Database, clock: any WallClock, passwordHasher: PasswordHasher, sessionLifetime: TimeInterval,
        streamHub: StreamHub? = nil, allowedOrigins: Set<String> = [], streamQueueLimitBytes: Int = 4 << 20,
        alerts: AlertSettings = AlertSettings(), requestTimeout: Duration = .seconds(10), loginThrottle: LoginThrottle = LoginThrottle(),
        admission: AdmissionLimits = .forPool(20), push: PushSettings = PushSettings(), publicURL: String = "http://127.0.0.1:8080",
        files: (any FileStore)? = nil, attachmentLimits: AttachmentLimits = AttachmentLimits(), heicConverter: HEICConverter? = nil
    ) {
        self.requestTimeout = requestTimeout
        self.admission = AdmissionGate(limits: admission)
        self.services = Services(database: database, clock: clock, passwordHasher: passwordHasher, sessionLifetime: sessionLifetime, alerts: alerts,
                                 loginThrottle: loginThrottle, push: push, publicURL: publicURL, files: files, attachmentLimits: attachmentLimits,
                                 heicConverter: heicConverter)
        self.streamHub = streamHub
        self.allowedOrigins = allowedOrigins
        self.streamQueueLimitBytes = streamQueueLimitBytes
    }
}

/// Builds the HTTP router. Returns the routes it registered too, so a test can hold them
/// against `openapi.yaml`. Without `includeAPI` (a worker process) only the health and
/// metrics routes are served.
public func buildRouter(
    _ dependencies: APIDependencies, includeAPI: Bool = true
) -> (Router<KairanRequestContext>, [RouteRegistry<KairanRequestContext>.Route]) {
    KairanMetrics.bootstrap()
    let router = Router(context: KairanRequestContext.self)
    // Outermost first: the log line sees the final status, including translated errors.
    router.add(middleware: RequestLogMiddleware())
    router.add(middleware: MetricsMiddleware())
    router.add(middleware: JSONErrorMiddleware())
    router.add(middleware: RequestDeadlineMiddleware(timeout: dependencies.requestTimeout))
    // Before a turn is taken: a phone sending a photo slowly holds no turn while it does.
    router.add(middleware: UploadBodyMiddleware(limit: dependencies.services.attachmentLimits.largestFile))
    // Inside the deadline: a turn waited for counts towards the request's time.
    router.add(middleware: AdmissionMiddleware(gate: dependencies.admission))
    router.add(middleware: AuthenticationMiddleware(dependencies: dependencies))

    let routes = RouteRegistry(router: router)
    HealthController(dependencies: dependencies).addRoutes(to: routes)
    if includeAPI {
        AccountsController(dependencies: dependencies).addRoutes(to: routes)
        SessionsController(dependencies: dependencies).addRoutes(to: routes)
        AdminController(dependencies: dependencies).addRoutes(to: routes)
        GroupsController(dependencies: dependencies).addRoutes(to: routes)
        ThreadsController(dependencies: dependencies).addRoutes(to: routes)
        EventsController(dependencies: dependencies).addRoutes(to: routes)
        NotificationsController(dependencies: dependencies).addRoutes(to: routes)
        PushDevicesController(dependencies: dependencies).addRoutes(to: routes)
        StreamController(dependencies: dependencies).addRoutes(to: routes)
        AlertsController(dependencies: dependencies).addRoutes(to: routes)
        MailProblemsController(dependencies: dependencies).addRoutes(to: routes)
        AlertSubscribersController(dependencies: dependencies).addRoutes(to: routes)
        MailPagesController(dependencies: dependencies).addRoutes(to: routes)
        OrganizationsController(dependencies: dependencies).addRoutes(to: routes)
        GuardianAccountController(dependencies: dependencies).addRoutes(to: routes)
        NoticesController(dependencies: dependencies).addRoutes(to: routes)
        GuardianNoticesController(dependencies: dependencies).addRoutes(to: routes)
        AbsencesController(dependencies: dependencies).addRoutes(to: routes)
        NoticePagesController(dependencies: dependencies).addRoutes(to: routes)
        ModerationController(dependencies: dependencies).addRoutes(to: routes)
        AttachmentsController(dependencies: dependencies).addRoutes(to: routes)
    }
    routes.finish()
    return (router, routes.routes)
}

import Foundation
import KairanCore
import KairanFiles
import KairanStore
import Logging

/// What every use case needs from the outside world. The JSON API, the web pages and the
/// workers hold one of these and call the same functions, so a rule lives in one place.
public struct Services: Sendable {
    public let database: Database
    public let clock: any WallClock
    public let passwordHasher: PasswordHasher
    /// How long a login lasts, in seconds.
    public let sessionLifetime: TimeInterval
    /// The alert service's wording and timing; its time zone is the town's.
    public let alerts: AlertSettings
    public let loginThrottle: LoginThrottle
    /// Where Web Push may reach out to.
    public let push: PushSettings
    /// Where residents reach the site (links in mail and calendar files).
    public let publicURL: String
    /// Where attachments' bytes are kept.
    public let files: any FileStore
    public let attachmentLimits: AttachmentLimits
    /// Turns HEIC photos into JPEG; nil: they are refused with advice.
    public let heicConverter: HEICConverter?

    public init(database: Database, clock: any WallClock, passwordHasher: PasswordHasher, sessionLifetime: TimeInterval,
                alerts: AlertSettings = AlertSettings(), loginThrottle: LoginThrottle = LoginThrottle(), push: PushSettings = PushSettings(),
                publicURL: String = "http://127.0.0.1:8080", files: (any FileStore)? = nil, attachmentLimits: AttachmentLimits = AttachmentLimits(),
                heicConverter: HEICConverter? = nil) {
        self.database = database
        self.clock = clock
        self.passwordHasher = passwordHasher
        self.sessionLifetime = sessionLifetime
        self.alerts = alerts
        self.loginThrottle = loginThrottle
        self.push = push
        self.publicURL = publicURL
        // Without a store named (a test that uploads nothing): a folder of its own.
        self.files = files ?? LocalFileStore(directory: FileManager.default.temporaryDirectory.path + "/kairan-files-\(UUID().uuidString)")
        self.attachmentLimits = attachmentLimits
        self.heicConverter = heicConverter
    }

    /// The town's time zone: quiet hours, receive windows and dates are local times there.
    public var timeZone: TimeZone { TimeZone(identifier: alerts.timing.zone) ?? TimeZone(identifier: "Asia/Tokyo")! }

    public var accounts: AccountService { AccountService(services: self) }
    public var sessions: SessionService { SessionService(services: self) }
    public var threads: ThreadService { ThreadService(services: self) }
    public var moderation: ModerationService { ModerationService(services: self) }
    public var groups: GroupService { GroupService(services: self) }
    public var notifications: NotificationService { NotificationService(services: self) }
    public var organizations: OrganizationService { OrganizationService(services: self) }
    public var notices: NoticeService { NoticeService(services: self) }
    public var absences: AbsenceService { AbsenceService(services: self) }
    public var guardians: GuardianService { GuardianService(services: self) }
    public var guardianNotices: GuardianNoticeService { GuardianNoticeService(services: self) }
    public var alertService: AlertService { AlertService(services: self) }
    public var subscriptions: SubscriptionService { SubscriptionService(services: self) }
    public var watchedWords: WatchedWordService { WatchedWordService(services: self) }
    public var suspensions: SuspensionService { SuspensionService(services: self) }
    public var mailProblems: MailProblemService { MailProblemService(services: self) }
    public var pushDevices: PushService { PushService(services: self) }
    public var events: GroupEventService { GroupEventService(services: self) }
    public var weatherWarnings: WeatherWarningService { WeatherWarningService(services: self) }
    public var attachments: AttachmentService { AttachmentService(services: self) }
}

extension Decision {
    /// The policy's answer as a refusal, or nothing when allowed.
    func require() throws {
        switch self {
        case .allow: return
        case .deny(let reason): throw ServiceError.forbidden(reason)
        case .hidden: throw ServiceError.notFound
        }
    }
}

/// Why a use case refused, in terms any front end can render (the JSON API as a status and
/// code, a page as a message).
public enum ServiceError: Error, Equatable, Sendable {
    /// No such thing, or the caller may not know it exists.
    case notFound
    /// The caller is known but may not do this.
    case forbidden(String)
    /// No valid login.
    case unauthenticated
    /// Wrong address or password (one answer for both).
    case invalidCredentials
    /// No such thing, said with a code of its own (a notice without a reply form…).
    case missing(code: String, message: String)
    /// The request clashes with what exists (`code` is stable, for clients).
    case conflict(code: String, message: String, field: String?)
    /// The caller may not do this now, for a reason they can act on (a suspension…).
    case refused(code: String, message: String)
    /// The input breaks a rule of the use case (not just of its shape).
    case invalid(code: String, message: String, field: String?)
    /// The caller used up an allowance; try again after `retryAfter` seconds.
    case rateLimited(action: String, retryAfter: Int)
    /// An uploaded file is not one Kairan keeps: not a photo or PDF (`unsupportedType`), or
    /// larger than the caller may upload (`!unsupportedType`).
    case fileRefused(code: String, message: String, unsupportedType: Bool)

    static func conflict(_ code: String, _ message: String) -> ServiceError { .conflict(code: code, message: message, field: nil) }
}

/// Town-wide roles. Scoped roles (group moderator, organization staff) live beside the
/// group or organization they apply to and are added by the issues that introduce those.
public enum Role: String, CaseIterable, Codable, Sendable, Comparable {
    case resident
    case orgStaff = "org_staff"
    case groupModerator = "group_moderator"
    case townModerator = "town_moderator"
    case townAdmin = "town_admin"
    /// Town staff who compose and send alert mail.
    case alertSender = "alert_sender"

    /// Roles a town admin may grant or revoke town-wide through the API.
    public static let grantableTownWide: Set<Role> = [.townModerator, .townAdmin, .alertSender]

    public static func < (lhs: Role, rhs: Role) -> Bool {
        allCases.firstIndex(of: lhs)! < allCases.firstIndex(of: rhs)!
    }
}

public typealias AccountID = Int64

/// The authenticated person making a request, as the policy sees them.
public struct Actor: Sendable, Equatable {
    public let accountID: AccountID
    public let roles: Set<Role>

    public init(accountID: AccountID, roles: Set<Role>) {
        self.accountID = accountID
        self.roles = roles
    }

    public var isTownAdmin: Bool { roles.contains(.townAdmin) }
    public var isTownModerator: Bool { roles.contains(.townModerator) || roles.contains(.townAdmin) }
    public var isAlertSender: Bool { roles.contains(.alertSender) || roles.contains(.townAdmin) }
}

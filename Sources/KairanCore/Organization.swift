/// Schools, nurseries, children's facilities and the town office.
public typealias OrganizationID = Int64
public typealias ClassID = Int64
public typealias ChildID = Int64
public typealias GuardianID = Int64

public enum OrganizationKind: String, Codable, CaseIterable, Sendable {
    case school
    case nursery
    case facility
    case townOffice = "town_office"
}

/// A staff member's role in one organization.
public enum OrganizationRole: String, Codable, CaseIterable, Sendable, Comparable {
    case staff
    case orgAdmin = "org_admin"

    public static func < (lhs: OrganizationRole, rhs: OrganizationRole) -> Bool {
        lhs == .staff && rhs == .orgAdmin
    }
}

/// How guardians want notices: in the app (live), by mail, or both.
public enum GuardianDelivery: String, Codable, CaseIterable, Sendable {
    case app
    case mail
    case both
}

/// Where the caller stands in one organization.
public struct OrganizationStanding: Sendable, Equatable {
    public let role: OrganizationRole?
    /// A guardian of a child enrolled there.
    public let isGuardian: Bool

    public init(role: OrganizationRole?, isGuardian: Bool) {
        self.role = role
        self.isGuardian = isGuardian
    }
}

public enum OrganizationAction: Sendable, Equatable {
    /// The organization's name and kind.
    case read
    /// Classes, children, guardians, link codes: the organization's staff.
    case manageChildren
    /// Settings and staff: the organization's admins (and town admins, who appoint them).
    case administer
    /// Notices: drafting, sending, dashboards, answers, absence reports: the organization's staff.
    case sendNotices
    /// The approval queue: the organization's own admins only (a town admin is not the
    /// school's 管理職).
    case approveNotices
}

extension Policy {
    /// Organization permissions. Children's and guardians' data is personal data (APPI):
    /// only the organization's own staff see it; everyone else, town admins included, sees
    /// at most the organization's name. Staff of one school get 404 for another's resources.
    public static func decide(_ actor: Actor, _ action: OrganizationAction, in organization: OrganizationStanding) -> Decision {
        let canSee = organization.role != nil || organization.isGuardian || actor.isTownAdmin
        guard canSee else { return .hidden }
        switch action {
        case .read:
            return .allow
        case .manageChildren, .sendNotices:
            return organization.role != nil ? .allow : .deny(reason: "only the organization's staff may do this")
        case .administer:
            if organization.role == .orgAdmin || actor.isTownAdmin { return .allow }
            return .deny(reason: "only the organization's administrators may do this")
        case .approveNotices:
            return organization.role == .orgAdmin ? .allow : .deny(reason: "only the organization's administrators may approve notices")
        }
    }
}

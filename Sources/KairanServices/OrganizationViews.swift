import Foundation
import KairanCore
import KairanStore

public struct OrganizationView: Codable, Sendable {
    public let id: OrganizationID
    public let kind: OrganizationKind
    public let name: String
    /// Normal notices wait while it is quiet; nil: never quiet.
    public let quietHours: TimeWindow?
    public let requiresApproval: Bool
    /// Urgent notices: unconfirmed households are escalated after this many minutes.
    public let escalateAfterMinutes: Int
    /// Reason categories offered on absence reports.
    public let absenceReasons: [String]
    public let createdAt: Date
    /// The caller's role there, if staff.
    public let myRole: OrganizationRole?

    public init(_ record: OrganizationRecord, myRole: OrganizationRole?) {
        id = record.id; kind = record.kind; name = record.name; requiresApproval = record.requiresApproval
        escalateAfterMinutes = record.escalateAfterMinutes; absenceReasons = record.absenceReasons
        createdAt = record.createdAt; self.myRole = myRole
        quietHours = TimeWindow(start: record.quietStart, end: record.quietEnd)
    }
}

public struct StaffView: Codable, Sendable {
    public let accountId: AccountID
    public let displayName: String
    public let role: OrganizationRole
    /// May send an urgent notice without approval (with a recorded reason).
    public let maySkipApproval: Bool
}

public struct ClassView: Codable, Sendable {
    public let id: ClassID
    public let name: String
    public let grade: Int?
    /// Staff who receive the class's absence reports.
    public let teacherIds: [AccountID]
    public init(_ record: ClassRecord) {
        id = record.id; name = record.name; grade = record.grade; teacherIds = record.teachers
    }
}

public struct ChildView: Codable, Sendable {
    public let id: ChildID
    public let organizationId: OrganizationID
    public let organizationName: String
    public let classId: ClassID?
    public let className: String?
    public let name: String
    public init(_ record: ChildRecord) {
        id = record.id; organizationId = record.organizationID; organizationName = record.organizationName
        classId = record.classID; className = record.className; name = record.name
    }
}

public struct GuardianView: Codable, Sendable {
    public let id: GuardianID
    public let name: String
    public let email: String?
    public let phone: String?
    public let delivery: GuardianDelivery
    public let hasAccount: Bool
    public init(_ record: GuardianRecord) {
        id = record.id; name = record.name; email = record.email; phone = record.phone; delivery = record.delivery
        hasAccount = record.accountID != nil
    }
}

public struct LinkCodeView: Codable, Sendable {
    public let code: String
    public let expiresAt: Date
}

import Foundation
import KairanCore
import Logging
import PostgresNIO

public struct OrganizationRecord: Sendable, Equatable {
    public let id: OrganizationID
    public let kind: OrganizationKind
    public let name: String
    public let quietStart: Int?
    public let quietEnd: Int?
    public let requiresApproval: Bool
    public let createdAt: Date
    public let escalateAfterMinutes: Int
    public let absenceReasons: [String]
}

public struct StaffRecord: Sendable, Equatable {
    public let accountID: AccountID
    public let displayName: String
    public let role: OrganizationRole
    public let maySkipApproval: Bool
}

public struct ClassRecord: Sendable, Equatable {
    public let id: ClassID
    public let name: String
    public let grade: Int?
    public var teachers: [AccountID] = []
}

public struct ChildRecord: Sendable, Equatable {
    public let id: ChildID
    public let organizationID: OrganizationID
    public let organizationName: String
    public let classID: ClassID?
    public let className: String?
    public let name: String
    public let householdID: Int64?
}

public struct GuardianRecord: Sendable, Equatable {
    public let id: GuardianID
    public let householdID: Int64
    public let accountID: AccountID?
    public let name: String
    public let email: String?
    public let phone: String?
    public let delivery: GuardianDelivery
}

/// Organizations, their staff and classes, the children enrolled and their households.
public enum OrganizationStore {
    static let columns = "o.id, o.kind, o.name, o.quiet_start, o.quiet_end, o.requires_approval, o.created_at, o.escalate_after_minutes, o.absence_reasons"
    typealias Row = (Int64, String, String, Int16?, Int16?, Bool, Date, Int16, [String])

    static func record(_ row: Row) -> OrganizationRecord {
        OrganizationRecord(id: row.0, kind: OrganizationKind(rawValue: row.1) ?? .facility, name: row.2, quietStart: row.3.map(Int.init),
                           quietEnd: row.4.map(Int.init), requiresApproval: row.5, createdAt: row.6,
                           escalateAfterMinutes: Int(row.7), absenceReasons: row.8)
    }

    public static func insert(
        kind: OrganizationKind, name: String, admin: AccountID, now: Date, on db: DatabaseConnection
    ) async throws -> OrganizationRecord {
        var id: OrganizationID = 0
        for try await value in try await db.query("""
            INSERT INTO organizations (kind, name, created_at) VALUES (\(kind.rawValue), \(name), \(now)) RETURNING id
            """).decode(Int64.self) {
            id = value
        }
        try await setStaff(organization: id, account: admin, role: .orgAdmin, maySkipApproval: nil, now: now, on: db)
        guard let (record, _) = try await standing(organization: id, account: admin, on: db) else {
            preconditionFailure("inserted in this transaction")
        }
        return record
    }

    public static func find(_ id: OrganizationID, on db: DatabaseConnection) async throws -> OrganizationRecord? {
        let query = ("SELECT \(unescaped: columns) FROM organizations o WHERE o.id = \(id)" as PostgresQuery)
        for try await row in try await db.query(query).decode(Row.self) { return record(row) }
        return nil
    }

    /// The organization and where `account` stands in it, in one query. `lock` takes a
    /// share lock on the account's staff row, so that a removal or change of role that
    /// commits meanwhile waits for the caller's transaction (or is seen by it).
    public static func standing(
        organization id: OrganizationID, account: AccountID, lock: Bool = false, on db: DatabaseConnection
    ) async throws -> (OrganizationRecord, OrganizationStanding)? {
        let query: PostgresQuery = """
            SELECT \(unescaped: columns), s.role,
                   EXISTS (SELECT 1 FROM guardians g JOIN children c ON c.household_id = g.household_id
                           WHERE g.account_id = \(account) AND c.organization_id = o.id)
            FROM organizations o
            LEFT JOIN LATERAL (
                SELECT role FROM organization_staff s WHERE s.organization_id = o.id AND s.account_id = \(account)
                \(unescaped: lock ? "FOR SHARE" : "")
            ) s ON true
            WHERE o.id = \(id)
            """
        for try await row in try await db.query(query).decode((Int64, String, String, Int16?, Int16?, Bool, Date, Int16, [String], String?, Bool).self) {
            let record = record((row.0, row.1, row.2, row.3, row.4, row.5, row.6, row.7, row.8))
            return (record, OrganizationStanding(role: row.9.flatMap(OrganizationRole.init(rawValue:)), isGuardian: row.10))
        }
        return nil
    }

    /// The organizations `account` works at or has children in; every one for town admins.
    public static func list(for account: AccountID, all: Bool, on db: DatabaseConnection) async throws -> [OrganizationRecord] {
        var result: [OrganizationRecord] = []
        let query = ("""
            SELECT \(unescaped: columns) FROM organizations o
            WHERE \(all) OR EXISTS (SELECT 1 FROM organization_staff s WHERE s.organization_id = o.id AND s.account_id = \(account))
               OR EXISTS (SELECT 1 FROM guardians g JOIN children c ON c.household_id = g.household_id
                          WHERE g.account_id = \(account) AND c.organization_id = o.id)
            ORDER BY o.id LIMIT 500
            """ as PostgresQuery)
        for try await row in try await db.query(query).decode(Row.self) { result.append(record(row)) }
        return result
    }

    public static func update(
        _ id: OrganizationID, name: String?, quietHours: (Int, Int)??, requiresApproval: Bool?, escalateAfterMinutes: Int? = nil,
        absenceReasons: [String]? = nil, on db: DatabaseConnection
    ) async throws {
        let escalate = escalateAfterMinutes.map(Int16.init)
        let clearQuiet = quietHours.map { $0 == nil } ?? false
        let start = (quietHours ?? nil).map { Int16($0.0) }
        let end = (quietHours ?? nil).map { Int16($0.1) }
        try await db.query("""
            UPDATE organizations SET
                name = coalesce(\(name)::text, name),
                quiet_start = CASE WHEN \(clearQuiet) THEN NULL ELSE coalesce(\(start)::smallint, quiet_start) END,
                quiet_end = CASE WHEN \(clearQuiet) THEN NULL ELSE coalesce(\(end)::smallint, quiet_end) END,
                requires_approval = coalesce(\(requiresApproval)::boolean, requires_approval),
                escalate_after_minutes = coalesce(\(escalate)::smallint, escalate_after_minutes),
                absence_reasons = coalesce(\(absenceReasons)::text[], absence_reasons)
            WHERE id = \(id)
            """)
    }

    static func setStaff(
        organization: OrganizationID, account: AccountID, role: OrganizationRole, maySkipApproval: Bool?, now: Date,
        on db: DatabaseConnection
    ) async throws {
        try await db.query("""
            INSERT INTO organization_staff (organization_id, account_id, role, added_at, may_skip_approval)
            VALUES (\(organization), \(account), \(role.rawValue), \(now), coalesce(\(maySkipApproval)::boolean, false))
            ON CONFLICT (organization_id, account_id) DO UPDATE
            SET role = excluded.role, may_skip_approval = coalesce(\(maySkipApproval)::boolean, organization_staff.may_skip_approval)
            """)
    }

    /// Locks the organization (so two admins cannot demote or remove each other at once)
    /// and returns `account`'s role there and whether it is the only administrator.
    static func lockedStanding(
        of account: AccountID, in organization: OrganizationID, on db: DatabaseConnection
    ) async throws -> (role: OrganizationRole?, onlyAdmin: Bool) {
        try await db.query("SELECT 1 FROM organizations WHERE id = \(organization) FOR UPDATE")
        var admins = 0
        var role: OrganizationRole?
        for try await (member, value) in try await db.query(
            "SELECT account_id, role FROM organization_staff WHERE organization_id = \(organization)"
        ).decode((Int64, String).self) {
            if value == OrganizationRole.orgAdmin.rawValue { admins += 1 }
            if member == account { role = OrganizationRole(rawValue: value) }
        }
        return (role, role == .orgAdmin && admins == 1)
    }

    /// Adds a staff member or changes their role. False when that would demote the
    /// organization's last administrator: it must always keep one.
    public static func changeStaff(
        organization: OrganizationID, account: AccountID, role: OrganizationRole, maySkipApproval: Bool? = nil, now: Date,
        on db: DatabaseConnection
    ) async throws -> Bool {
        let current = try await lockedStanding(of: account, in: organization, on: db)
        if current.onlyAdmin && role != .orgAdmin { return false }
        try await setStaff(organization: organization, account: account, role: role, maySkipApproval: maySkipApproval, now: now,
                           on: db)
        return true
    }

    /// Removes a staff member. False when they were the last admin or not staff at all.
    public static func removeStaff(organization: OrganizationID, account: AccountID, on db: DatabaseConnection) async throws -> Bool {
        let current = try await lockedStanding(of: account, in: organization, on: db)
        guard current.role != nil, !current.onlyAdmin else { return false }
        try await db.query("DELETE FROM organization_staff WHERE organization_id = \(organization) AND account_id = \(account)")
        try await db.query("""
            DELETE FROM class_teachers t USING classes c
            WHERE t.class_id = c.id AND c.organization_id = \(organization) AND t.account_id = \(account)
            """)
        return true
    }

    public static func staff(organization: OrganizationID, on db: DatabaseConnection) async throws -> [StaffRecord] {
        var result: [StaffRecord] = []
        for try await (id, name, role, maySkip) in try await db.query("""
            SELECT s.account_id, a.display_name, s.role, s.may_skip_approval FROM organization_staff s JOIN accounts a ON a.id = s.account_id
            WHERE s.organization_id = \(organization) ORDER BY s.role = 'org_admin' DESC, a.id
            """).decode((Int64, String, String, Bool).self) {
            result.append(StaffRecord(accountID: id, displayName: name, role: OrganizationRole(rawValue: role) ?? .staff, maySkipApproval: maySkip))
        }
        return result
    }

    /// Nil when the name is taken in this organization.
    public static func insertClass(
        organization: OrganizationID, name: String, grade: Int?, on db: DatabaseConnection
    ) async throws -> ClassRecord? {
        for try await id in try await db.query("""
            INSERT INTO classes (organization_id, name, grade) VALUES (\(organization), \(name), \(grade.map(Int16.init)))
            ON CONFLICT (organization_id, name) DO NOTHING RETURNING id
            """).decode(Int64.self) {
            return ClassRecord(id: id, name: name, grade: grade)
        }
        return nil
    }

    public static func classes(organization: OrganizationID, on db: DatabaseConnection) async throws -> [ClassRecord] {
        var result: [ClassRecord] = []
        for try await (id, name, grade, teachers) in try await db.query("""
            SELECT c.id, c.name, c.grade, coalesce(array_agg(t.account_id ORDER BY t.account_id) FILTER (WHERE t.account_id IS NOT NULL), '{}')
            FROM classes c LEFT JOIN class_teachers t ON t.class_id = c.id
            WHERE c.organization_id = \(organization) GROUP BY c.id ORDER BY c.grade NULLS LAST, c.name
            """).decode((Int64, String, Int16?, [Int64]).self) {
            result.append(ClassRecord(id: id, name: name, grade: grade.map(Int.init), teachers: teachers))
        }
        return result
    }

    /// The class's organization and whether `account` teaches it; nil for an unknown class.
    public static func teacher(account: AccountID, ofClass id: ClassID, on db: DatabaseConnection) async throws -> (OrganizationID, Bool)? {
        for try await row in try await db.query("""
            SELECT c.organization_id, EXISTS (SELECT 1 FROM class_teachers t WHERE t.class_id = c.id AND t.account_id = \(account))
            FROM classes c WHERE c.id = \(id)
            """).decode((Int64, Bool).self) {
            return row
        }
        return nil
    }

    /// The classes `account` teaches in an organization.
    public static func classesTaught(by account: AccountID, organization: OrganizationID, on db: DatabaseConnection) async throws -> [ClassID] {
        var result: [ClassID] = []
        for try await id in try await db.query("""
            SELECT t.class_id FROM class_teachers t JOIN classes c ON c.id = t.class_id
            WHERE t.account_id = \(account) AND c.organization_id = \(organization) ORDER BY 1
            """).decode(Int64.self) {
            result.append(id)
        }
        return result
    }

    /// Makes a staff member one of the class's teachers. False when the class is not this
    /// organization's or the account is not its staff.
    public static func addTeacher(account: AccountID, toClass id: ClassID, organization: OrganizationID, on db: DatabaseConnection) async throws -> Bool {
        for try await _ in try await db.query("""
            INSERT INTO class_teachers (class_id, account_id)
            SELECT c.id, s.account_id FROM classes c JOIN organization_staff s ON s.organization_id = c.organization_id
            WHERE c.id = \(id) AND c.organization_id = \(organization) AND s.account_id = \(account)
            ON CONFLICT DO NOTHING RETURNING 1
            """).decode(Int.self) {
            return true
        }
        return try await teacher(account: account, ofClass: id, on: db).map { $0.0 == organization && $0.1 } ?? false
    }

    public static func removeTeacher(account: AccountID, fromClass id: ClassID, organization: OrganizationID, on db: DatabaseConnection) async throws -> Bool {
        for try await _ in try await db.query("""
            DELETE FROM class_teachers t USING classes c
            WHERE t.class_id = c.id AND c.id = \(id) AND c.organization_id = \(organization) AND t.account_id = \(account)
            RETURNING 1
            """).decode(Int.self) {
            return true
        }
        return false
    }

    static let childColumns = "c.id, c.organization_id, o.name, c.class_id, cl.name, c.name, c.household_id"
    static let childJoins = "FROM children c JOIN organizations o ON o.id = c.organization_id LEFT JOIN classes cl ON cl.id = c.class_id"
    typealias ChildRow = (Int64, Int64, String, Int64?, String?, String, Int64?)

    static func child(_ row: ChildRow) -> ChildRecord {
        ChildRecord(id: row.0, organizationID: row.1, organizationName: row.2, classID: row.3, className: row.4, name: row.5, householdID: row.6)
    }

    /// Nil when the class is not this organization's.
    public static func insertChild(
        organization: OrganizationID, classID: ClassID?, name: String, household: Int64? = nil, now: Date,
        on db: DatabaseConnection
    ) async throws -> ChildRecord? {
        var id: Int64?
        for try await value in try await db.query("""
            INSERT INTO children (organization_id, class_id, name, household_id, created_at)
            SELECT \(organization), \(classID), \(name), \(household), \(now)
            WHERE \(classID)::bigint IS NULL OR EXISTS (SELECT 1 FROM classes WHERE id = \(classID) AND organization_id = \(organization))
            RETURNING id
            """).decode(Int64.self) {
            id = value
        }
        guard let id else { return nil }
        return try await child(id: id, organization: organization, on: db)
    }

    public static func child(id: ChildID, organization: OrganizationID, on db: DatabaseConnection) async throws -> ChildRecord? {
        let query = ("SELECT \(unescaped: childColumns) \(unescaped: childJoins) WHERE c.id = \(id) AND c.organization_id = \(organization)" as PostgresQuery)
        for try await row in try await db.query(query).decode(ChildRow.self) { return child(row) }
        return nil
    }

    public static func children(organization: OrganizationID, classID: ClassID?, on db: DatabaseConnection) async throws -> [ChildRecord] {
        var result: [ChildRecord] = []
        let query = ("""
            SELECT \(unescaped: childColumns) \(unescaped: childJoins) WHERE c.organization_id = \(organization) AND (\(classID)::bigint IS NULL OR c.class_id = \(classID))
            ORDER BY cl.grade NULLS LAST, cl.name, c.name LIMIT 2000
            """ as PostgresQuery)
        for try await row in try await db.query(query).decode(ChildRow.self) { result.append(child(row)) }
        return result
    }

    /// The children of the household `account` is a guardian in, across organizations.
    public static func children(ofGuardian account: AccountID, on db: DatabaseConnection) async throws -> [ChildRecord] {
        var result: [ChildRecord] = []
        let query = ("""
            SELECT \(unescaped: childColumns) \(unescaped: childJoins) JOIN guardians g ON g.household_id = c.household_id
            WHERE g.account_id = \(account) ORDER BY c.organization_id, c.name
            """ as PostgresQuery)
        for try await row in try await db.query(query).decode(ChildRow.self) { result.append(child(row)) }
        return result
    }

    static let guardianColumns = "g.id, g.household_id, g.account_id, g.name, g.email, g.phone, g.delivery"
    typealias GuardianRow = (Int64, Int64, Int64?, String, String?, String?, String)

    static func guardian(_ row: GuardianRow) -> GuardianRecord {
        GuardianRecord(id: row.0, householdID: row.1, accountID: row.2, name: row.3, email: row.4, phone: row.5,
                       delivery: GuardianDelivery(rawValue: row.6) ?? .mail)
    }

    /// The child's household, created on first need.
    public static func household(of child: ChildID, now: Date, on db: DatabaseConnection) async throws -> Int64 {
        for try await existing in try await db.query(
            "SELECT household_id FROM children WHERE id = \(child) FOR UPDATE"
        ).decode(Int64?.self) {
            if let existing { return existing }
        }
        var id: Int64 = 0
        for try await value in try await db.query("INSERT INTO households (created_at) VALUES (\(now)) RETURNING id").decode(Int64.self) {
            id = value
        }
        try await db.query("UPDATE children SET household_id = \(id) WHERE id = \(child)")
        return id
    }

    /// A guardian registered by staff, without an app account (mail only).
    public static func addGuardian(
        child: ChildID, name: String, email: EmailAddress, phone: String?, now: Date, on db: DatabaseConnection
    ) async throws -> GuardianRecord {
        let household = try await household(of: child, now: now, on: db)
        let query = ("""
            INSERT INTO guardians AS g (household_id, name, email, phone, delivery, created_at) VALUES (\(household), \(name), \(email.raw), \(phone), 'mail', \(now))
            RETURNING \(unescaped: guardianColumns)
            """ as PostgresQuery)
        for try await row in try await db.query(query).decode(GuardianRow.self) { return guardian(row) }
        preconditionFailure("INSERT … RETURNING returned no row")
    }

    public static func guardians(ofChild child: ChildID, on db: DatabaseConnection) async throws -> [GuardianRecord] {
        var result: [GuardianRecord] = []
        let query = ("""
            SELECT \(unescaped: guardianColumns) FROM guardians g JOIN children c ON c.household_id = g.household_id WHERE c.id = \(child) ORDER BY g.id
            """ as PostgresQuery)
        for try await row in try await db.query(query).decode(GuardianRow.self) { result.append(guardian(row)) }
        return result
    }

    /// The guardian record of an account, if it is linked to a household.
    public static func guardian(account: AccountID, on db: DatabaseConnection) async throws -> GuardianRecord? {
        let query = ("SELECT \(unescaped: guardianColumns) FROM guardians g WHERE g.account_id = \(account)" as PostgresQuery)
        for try await row in try await db.query(query).decode(GuardianRow.self) { return guardian(row) }
        return nil
    }

    /// How a guardian with an account wants notices, and the address for mail.
    public static func setDelivery(
        account: AccountID, delivery: GuardianDelivery, email: EmailAddress?, phone: String?, on db: DatabaseConnection
    ) async throws {
        try await db.query("""
            UPDATE guardians SET delivery = \(delivery.rawValue), email = coalesce(\(email?.raw)::text, email), phone = coalesce(\(phone)::text, phone)
            WHERE account_id = \(account)
            """)
    }

    public static func createLinkCode(child: ChildID, code: String, now: Date, expires: Date, on db: DatabaseConnection) async throws {
        try await db.query("""
            INSERT INTO child_link_codes (code_hash, child_id, created_at, expires_at) VALUES (\(RandomToken.hash(code)), \(child), \(now), \(expires))
            """)
    }

    public enum LinkResult: Sendable, Equatable {
        case linked(ChildRecord)
        case invalidCode
        /// The child's household has another guardian with an account: perhaps another
        /// family, so its households are merged only by the organization's admins.
        case householdConflict
    }

    /// Links the account (as a guardian) to the child of a one-time code: the guardian joins
    /// the child's household, or brings the child into theirs.
    public static func redeemLinkCode(
        _ code: String, account: AccountID, displayName: String, now: Date, on db: DatabaseConnection
    ) async throws -> LinkResult {
        var childID: Int64?
        for try await id in try await db.query("""
            UPDATE child_link_codes SET used_at = \(now)
            WHERE code_hash = \(RandomToken.hash(code)) AND used_at IS NULL AND expires_at > \(now)
            RETURNING child_id
            """).decode(Int64.self) {
            childID = id
        }
        guard let childID else { return .invalidCode }
        var childHousehold: Int64?
        var organization: Int64 = 0
        for try await (household, org) in try await db.query(
            "SELECT household_id, organization_id FROM children WHERE id = \(childID) FOR UPDATE"
        ).decode((Int64?, Int64).self) {
            childHousehold = household
            organization = org
        }
        var guardianHousehold: Int64?
        for try await household in try await db.query(
            "SELECT household_id FROM guardians WHERE account_id = \(account)"
        ).decode(Int64.self) {
            guardianHousehold = household
        }
        switch (guardianHousehold, childHousehold) {
        case let (mine?, theirs?) where mine != theirs:
            // The other parent was registered by staff (say by mail at the nursery) before
            // this parent linked: one family in two households. The code is the child's
            // organization's word that this account is the child's guardian, so the two
            // become one household, as they would have had the link come first. Not when
            // someone with an account already looks after the child: that may be another
            // family (a code handed to the wrong parent), and only the organization's admins
            // merge such households.
            var accountHolders = 0
            for try await count in try await db.query(
                "SELECT count(*)::int FROM guardians WHERE household_id = \(theirs) AND account_id IS NOT NULL"
            ).decode(Int.self) {
                accountHolders = count
            }
            guard accountHolders == 0 else { return .householdConflict }
            try await HouseholdStore.merge(theirs, into: mine, organization: organization, by: account, via: .linkCode, reason: "",
                                           now: now, on: db)
        case (let mine?, nil):
            try await db.query("UPDATE children SET household_id = \(mine) WHERE id = \(childID)")
        case (nil, _):
            let household = try await household(of: childID, now: now, on: db)
            try await db.query("""
                INSERT INTO guardians (household_id, account_id, name, delivery, created_at) VALUES (\(household), \(account), \(displayName), 'app', \(now))
                """)
        default:
            break
        }
        guard let child = try await child(id: childID, organization: organization, on: db) else { return .invalidCode }
        return .linked(child)
    }
}

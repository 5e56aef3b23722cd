import Foundation
import KairanCore
import KairanStore
import Logging
import PostgresNIO

/// Schools, nurseries, facilities and the town office: their staff, classes, children and
/// guardians. Every use case asks `Policy` with the caller's standing in the organization
/// inside its transaction (`OrganizationAccess.confirm`).
public struct OrganizationService: Sendable {
    let services: Services
    var database: Database { services.database }

    /// How long a guardian's link code stays valid.
    public static let linkCodeLifetime: TimeInterval = 30 * 24 * 3600

    /// Asks early, before a front end reads a request body or renders a form: the
    /// organization and the caller's standing, or `notFound` / `forbidden`. Writes ask
    /// again inside their transaction.
    public func authorize(_ actor: Actor, _ id: OrganizationID, for action: OrganizationAction, logger: Logger) async throws -> OrganizationScope {
        try await database.withConnection { db in
            try await OrganizationAccess.confirm(action, id, actor: actor, lock: false, on: db)
        }
    }

    // MARK: - Organizations

    /// A town administrator registers an organization with its first administrator.
    public func create(_ actor: Actor, kind: OrganizationKind, name rawName: String, admin: AccountID, logger: Logger) async throws -> OrganizationView {
        try Policy.decide(actor, .createOrganization).require()
        let name = try Content.text(rawName, field: "name", max: 100)
        let now = services.clock.now()
        let record = try await database.withTransaction { db in
            guard try await AccountStore.exists(id: admin, on: db) else {
                throw ValidationError(field: "adminAccountId", code: "unknown_account", message: "no account with that id")
            }
            return try await OrganizationStore.insert(kind: kind, name: name, admin: admin, now: now, on: db)
        }
        logger.info("organization created", metadata: ["organization_id": "\(record.id)"])
        return OrganizationView(record, myRole: admin == actor.accountID ? .orgAdmin : nil)
    }

    /// The account a person registered with this address, for a form that names people by
    /// address (the pages): asked only after the caller's permission was checked, so a
    /// stranger cannot use it to learn who has an account.
    static func account(byEmail rawEmail: String, field: String, on db: DatabaseConnection) async throws -> AccountID {
        guard let email = try? EmailAddress(rawEmail), let account = try await AccountStore.find(emailKey: email.comparisonKey, on: db) else {
            throw ValidationError(field: field, code: "unknown_account", message: "no account is registered with that address")
        }
        return account.id
    }

    /// `create` with the first administrator named by their login address.
    public func create(_ actor: Actor, kind: OrganizationKind, name: String, adminEmail: String, logger: Logger) async throws -> OrganizationView {
        try Policy.decide(actor, .createOrganization).require()
        let admin = try await database.withConnection { db in try await Self.account(byEmail: adminEmail, field: "adminEmail", on: db) }
        return try await create(actor, kind: kind, name: name, admin: admin, logger: logger)
    }

    /// `setStaff` with the account named by its login address (the organization's admins).
    public func setStaff(_ actor: Actor, _ id: OrganizationID, email: String, role: OrganizationRole, maySkipApproval: Bool?, logger: Logger) async throws {
        let account = try await database.withConnection { db -> AccountID in
            _ = try await OrganizationAccess.confirm(.administer, id, actor: actor, lock: false, on: db)
            return try await Self.account(byEmail: email, field: "email", on: db)
        }
        try await setStaff(actor, id, account: account, role: role, maySkipApproval: maySkipApproval, logger: logger)
    }

    /// The organizations the caller is staff of (every one for a town administrator).
    public func list(_ actor: Actor, logger: Logger) async throws -> [OrganizationView] {
        let records = try await database.withConnection { db in
            try await OrganizationStore.list(for: actor.accountID, all: actor.isTownAdmin, on: db)
        }
        return records.map { OrganizationView($0, myRole: nil) }
    }

    /// The organizations the caller is staff of (a town administrator's own, not every one):
    /// the staff pages' list.
    public func staffOf(_ actor: Actor, logger: Logger) async throws -> [OrganizationView] {
        let records = try await database.withConnection { db in
            try await OrganizationStore.list(for: actor.accountID, all: false, on: db)
        }
        return records.map { OrganizationView($0, myRole: nil) }
    }

    /// Changes to an organization's settings; nil keeps a value.
    public struct Change: Sendable {
        public var name: String?
        public var requiresApproval: Bool?
        public var escalateAfterMinutes: Int?
        public var absenceReasons: [String]?
        /// nil: unchanged; .some(nil): no quiet hours; .some(window): set.
        public var quietHours: TimeWindow??
        public init(name: String? = nil, requiresApproval: Bool? = nil, escalateAfterMinutes: Int? = nil, absenceReasons: [String]? = nil,
                    quietHours: TimeWindow?? = nil) {
            self.name = name; self.requiresApproval = requiresApproval; self.escalateAfterMinutes = escalateAfterMinutes
            self.absenceReasons = absenceReasons; self.quietHours = quietHours
        }
    }

    public func update(_ actor: Actor, _ id: OrganizationID, _ change: Change, logger: Logger) async throws -> OrganizationView {
        let name = try change.name.map { try Content.text($0, field: "name", max: 100) }
        let quiet: (Int, Int)?? = try change.quietHours.map { hours in
            try hours.map { try $0.minutes(field: "quietHours") }
        }
        if let minutes = change.escalateAfterMinutes, !(1...1440).contains(minutes) {
            throw ValidationError(field: "escalateAfterMinutes", code: "out_of_range", message: "escalateAfterMinutes must be between 1 and 1440")
        }
        let reasons = try change.absenceReasons.map { reasons in
            guard (1...20).contains(reasons.count) else {
                throw ValidationError(field: "absenceReasons", code: "out_of_range", message: "between 1 and 20 reasons")
            }
            return try reasons.map { try Content.text($0, field: "absenceReasons", max: 30) }
        }
        return try await database.withTransaction { db in
            let scope = try await OrganizationAccess.confirm(.administer, id, actor: actor, on: db)
            try await OrganizationStore.update(id, name: name, quietHours: quiet, requiresApproval: change.requiresApproval,
                                               escalateAfterMinutes: change.escalateAfterMinutes, absenceReasons: reasons,
                                               on: db)
            guard let (updated, _) = try await OrganizationStore.standing(organization: id, account: actor.accountID, on: db) else {
                throw ServiceError.notFound
            }
            return OrganizationView(updated, myRole: scope.standing.role)
        }
    }

    // MARK: - Staff

    public func staff(_ actor: Actor, _ id: OrganizationID, logger: Logger) async throws -> [StaffView] {
        try await database.withConnection { db in
            _ = try await OrganizationAccess.confirm(.manageChildren, id, actor: actor, lock: false, on: db)
            return try await OrganizationStore.staff(organization: id, on: db).map {
                StaffView(accountId: $0.accountID, displayName: $0.displayName, role: $0.role, maySkipApproval: $0.maySkipApproval)
            }
        }
    }

    struct StaffEvent: Encodable {
        let accountId: AccountID
    }

    /// Makes an account staff, or changes their role (the last administrator stays one).
    public func setStaff(_ actor: Actor, _ id: OrganizationID, account: AccountID, role: OrganizationRole, maySkipApproval: Bool?, logger: Logger) async throws {
        let now = services.clock.now()
        try await database.withTransaction { db in
            _ = try await OrganizationAccess.confirm(.administer, id, actor: actor, on: db)
            guard try await AccountStore.exists(id: account, on: db) else { throw ServiceError.notFound }
            guard try await OrganizationStore.changeStaff(organization: id, account: account, role: role, maySkipApproval: maySkipApproval, now: now,
                                                          on: db) else {
                throw ServiceError.conflict("last_admin", "the organization's last administrator cannot be made staff")
            }
            // A demoted admin loses the approval queue's stream.
            try await EventStore.append(EventStore.organizationStream(id), kind: "staff.changed", payload: StaffEvent(accountId: account),
                                        now: now, on: db)
        }
    }

    public func removeStaff(_ actor: Actor, _ id: OrganizationID, account: AccountID, logger: Logger) async throws {
        let now = services.clock.now()
        let removed = try await database.withTransaction { db in
            _ = try await OrganizationAccess.confirm(.administer, id, actor: actor, on: db)
            let taught = try await OrganizationStore.classesTaught(by: account, organization: id, on: db)
            guard try await OrganizationStore.removeStaff(organization: id, account: account, on: db) else { return false }
            // Live subscriptions of the removed account are re-checked (and revoked).
            try await EventStore.append(EventStore.organizationStream(id), kind: "staff.removed", payload: StaffEvent(accountId: account),
                                        now: now, on: db)
            for classID in taught {
                try await EventStore.append(EventStore.classStream(classID), kind: "teacher.removed", payload: StaffEvent(accountId: account),
                                            now: now, on: db)
            }
            return true
        }
        guard removed else { throw ServiceError.conflict("last_admin_or_not_staff", "not staff here, or the organization's last administrator") }
    }

    // MARK: - Classes

    public func classes(_ actor: Actor, _ id: OrganizationID, logger: Logger) async throws -> [ClassView] {
        try await database.withConnection { db in
            _ = try await OrganizationAccess.confirm(.manageChildren, id, actor: actor, lock: false, on: db)
            return try await OrganizationStore.classes(organization: id, on: db).map(ClassView.init)
        }
    }

    public func createClass(_ actor: Actor, _ id: OrganizationID, name rawName: String, grade: Int?, logger: Logger) async throws -> ClassView {
        let name = try Content.text(rawName, field: "name", max: 50)
        if let grade, !(0...12).contains(grade) {
            throw ValidationError(field: "grade", code: "out_of_range", message: "grade must be between 0 and 12")
        }
        let created = try await database.withTransaction { db in
            _ = try await OrganizationAccess.confirm(.administer, id, actor: actor, on: db)
            return try await OrganizationStore.insertClass(organization: id, name: name, grade: grade, on: db)
        }
        guard let created else { throw ServiceError.conflict("class_exists", "a class with this name exists") }
        return ClassView(created)
    }

    /// 担任: a staff member receives the class's absence reports.
    public func addTeacher(_ actor: Actor, _ id: OrganizationID, class classID: ClassID, account: AccountID, logger: Logger) async throws {
        let added = try await database.withTransaction { db in
            _ = try await OrganizationAccess.confirm(.administer, id, actor: actor, on: db)
            return try await OrganizationStore.addTeacher(account: account, toClass: classID, organization: id, on: db)
        }
        guard added else { throw ServiceError.missing(code: "not_found", message: "no such class here, or the account is not staff here") }
    }

    public func removeTeacher(_ actor: Actor, _ id: OrganizationID, class classID: ClassID, account: AccountID, logger: Logger) async throws {
        let now = services.clock.now()
        let removed = try await database.withTransaction { db in
            _ = try await OrganizationAccess.confirm(.administer, id, actor: actor, on: db)
            guard try await OrganizationStore.removeTeacher(account: account, fromClass: classID, organization: id, on: db) else {
                return false
            }
            try await EventStore.append(EventStore.classStream(classID), kind: "teacher.removed", payload: StaffEvent(accountId: account),
                                        now: now, on: db)
            return true
        }
        guard removed else { throw ServiceError.notFound }
    }

    // MARK: - Children and guardians

    /// One of the organization's children.
    public func child(_ actor: Actor, _ id: OrganizationID, child childID: ChildID, logger: Logger) async throws -> ChildView {
        let record = try await database.withConnection { db in
            _ = try await OrganizationAccess.confirm(.manageChildren, id, actor: actor, lock: false, on: db)
            return try await OrganizationStore.child(id: childID, organization: id, on: db)
        }
        guard let record else { throw ServiceError.notFound }
        return ChildView(record)
    }

    public func children(_ actor: Actor, _ id: OrganizationID, class classID: ClassID?, logger: Logger) async throws -> [ChildView] {
        try await database.withConnection { db in
            _ = try await OrganizationAccess.confirm(.manageChildren, id, actor: actor, lock: false, on: db)
            return try await OrganizationStore.children(organization: id, classID: classID, on: db).map(ChildView.init)
        }
    }

    /// Enrols a child; a brother or sister already enrolled here puts them in one household,
    /// so the family's guardians get each notice once.
    public func createChild(_ actor: Actor, _ id: OrganizationID, name rawName: String, class classID: ClassID?, siblingOf: ChildID?,
                            logger: Logger) async throws -> ChildView {
        let name = try Content.text(rawName, field: "name", max: 50)
        let now = services.clock.now()
        let child = try await database.withTransaction { db -> ChildRecord? in
            _ = try await OrganizationAccess.confirm(.manageChildren, id, actor: actor, on: db)
            var household: Int64?
            if let sibling = siblingOf {
                guard try await OrganizationStore.child(id: sibling, organization: id, on: db) != nil else {
                    throw ValidationError(field: "siblingOf", code: "unknown_child", message: "no such child in this organization")
                }
                household = try await OrganizationStore.household(of: sibling, now: now, on: db)
            }
            return try await OrganizationStore.insertChild(organization: id, classID: classID, name: name, household: household,
                                                           now: now, on: db)
        }
        guard let child else { throw ValidationError(field: "classId", code: "unknown_class", message: "no such class in this organization") }
        return ChildView(child)
    }

    /// A child of this organization, or `notFound`.
    private func child(_ child: ChildID, of id: OrganizationID, on db: DatabaseConnection) async throws -> ChildRecord {
        guard let record = try await OrganizationStore.child(id: child, organization: id, on: db) else { throw ServiceError.notFound }
        return record
    }

    public func guardians(_ actor: Actor, _ id: OrganizationID, child childID: ChildID, logger: Logger) async throws -> [GuardianView] {
        try await database.withConnection { db in
            _ = try await OrganizationAccess.confirm(.manageChildren, id, actor: actor, lock: false, on: db)
            let child = try await child(childID, of: id, on: db)
            return try await OrganizationStore.guardians(ofChild: child.id, on: db).map(GuardianView.init)
        }
    }

    /// A guardian without an app account: notices reach them by mail.
    public func addGuardian(_ actor: Actor, _ id: OrganizationID, child childID: ChildID, name rawName: String, email rawEmail: String,
                            phone rawPhone: String?, logger: Logger) async throws -> GuardianView {
        let name = try Content.text(rawName, field: "name", max: 50)
        let phone = try rawPhone.map { try Content.text($0, field: "phone", max: 30) }
        let email = try EmailAddress(rawEmail)
        let now = services.clock.now()
        return try await database.withTransaction { db in
            _ = try await OrganizationAccess.confirm(.manageChildren, id, actor: actor, on: db)
            let child = try await child(childID, of: id, on: db)
            return GuardianView(try await OrganizationStore.addGuardian(child: child.id, name: name, email: email, phone: phone, now: now,
                                                                         on: db))
        }
    }

    /// A one-time code for the family: a guardian's account enters it to link to the child.
    public func createLinkCode(_ actor: Actor, _ id: OrganizationID, child childID: ChildID, logger: Logger) async throws -> LinkCodeView {
        let now = services.clock.now()
        let expires = now.addingTimeInterval(Self.linkCodeLifetime)
        // Easy to type from paper: 12 letters and digits without look-alikes.
        let alphabet = Array("ABCDEFGHJKLMNPQRSTUVWXYZ23456789")
        var generator = SystemRandomNumberGenerator()
        let code = String((0..<12).map { _ in alphabet[Int.random(in: 0..<alphabet.count, using: &generator)] })
        try await database.withTransaction { db in
            _ = try await OrganizationAccess.confirm(.manageChildren, id, actor: actor, on: db)
            let child = try await child(childID, of: id, on: db)
            try await OrganizationStore.createLinkCode(child: child.id, code: code, now: now, expires: expires, on: db)
        }
        return LinkCodeView(code: code, expiresAt: expires)
    }
}

import Foundation
import Hummingbird
import KairanCore
import KairanStore
import Logging
import PostgresNIO

/// Schools, nurseries, facilities and the town office: their staff, classes, children and
/// guardians. Every route asks `Policy` with the caller's standing in the organization, so
/// staff of one school get 404 for everything of another.
struct OrganizationsController {
    let dependencies: APIDependencies
    var database: Database { dependencies.database }

    static let linkCodeLifetime: TimeInterval = 30 * 24 * 3600

    func addRoutes(to routes: some RouterMethods<KairanRequestContext>) {
        routes.post("/v1/organizations", use: create)
        routes.get("/v1/organizations", use: list)
        routes.get("/v1/organizations/{organizationID}", use: show)
        routes.patch("/v1/organizations/{organizationID}", use: update)
        routes.get("/v1/organizations/{organizationID}/staff", use: staff)
        routes.put("/v1/organizations/{organizationID}/staff/{accountID}", use: setStaff)
        routes.delete("/v1/organizations/{organizationID}/staff/{accountID}", use: removeStaff)
        routes.get("/v1/organizations/{organizationID}/classes", use: classes)
        routes.post("/v1/organizations/{organizationID}/classes", use: createClass)
        routes.put("/v1/organizations/{organizationID}/classes/{classID}/teachers/{accountID}", use: addTeacher)
        routes.delete("/v1/organizations/{organizationID}/classes/{classID}/teachers/{accountID}", use: removeTeacher)
        routes.get("/v1/organizations/{organizationID}/children", use: children)
        routes.post("/v1/organizations/{organizationID}/children", use: createChild)
        routes.get("/v1/organizations/{organizationID}/children/{childID}/guardians", use: guardians)
        routes.post("/v1/organizations/{organizationID}/children/{childID}/guardians", use: addGuardian)
        routes.post("/v1/organizations/{organizationID}/children/{childID}/link-codes", use: createLinkCode)
    }

    // MARK: - Responses

    struct OrganizationResponse: ResponseEncodable, Sendable {
        let id: OrganizationID
        let kind: OrganizationKind
        let name: String
        /// Normal notices wait while it is quiet; nil: never quiet.
        let quietHours: TimeWindow?
        let requiresApproval: Bool
        /// Urgent notices: unconfirmed households are escalated after this many minutes.
        let escalateAfterMinutes: Int
        /// Reason categories offered on absence reports.
        let absenceReasons: [String]
        let createdAt: Date
        /// The caller's role there, if staff.
        let myRole: OrganizationRole?

        init(_ record: OrganizationRecord, myRole: OrganizationRole?) {
            id = record.id; kind = record.kind; name = record.name; requiresApproval = record.requiresApproval
            escalateAfterMinutes = record.escalateAfterMinutes; absenceReasons = record.absenceReasons
            createdAt = record.createdAt; self.myRole = myRole
            quietHours = TimeWindow(start: record.quietStart, end: record.quietEnd)
        }
    }

    struct StaffResponse: Encodable, Sendable {
        let accountId: AccountID
        let displayName: String
        let role: OrganizationRole
        /// May send an urgent notice without approval (with a recorded reason).
        let maySkipApproval: Bool
    }

    struct ClassResponse: ResponseEncodable, Sendable {
        let id: ClassID
        let name: String
        let grade: Int?
        /// Staff who receive the class's absence reports.
        let teacherIds: [AccountID]
        init(_ record: ClassRecord) {
            id = record.id; name = record.name; grade = record.grade; teacherIds = record.teachers
        }
    }

    struct ChildResponse: ResponseEncodable, Sendable {
        let id: ChildID
        let organizationId: OrganizationID
        let organizationName: String
        let classId: ClassID?
        let className: String?
        let name: String
        init(_ record: ChildRecord) {
            id = record.id; organizationId = record.organizationID; organizationName = record.organizationName
            classId = record.classID; className = record.className; name = record.name
        }
    }

    struct GuardianResponse: ResponseEncodable, Sendable {
        let id: GuardianID
        let name: String
        let email: String?
        let phone: String?
        let delivery: GuardianDelivery
        let hasAccount: Bool
        init(_ record: GuardianRecord) {
            id = record.id; name = record.name; email = record.email; phone = record.phone; delivery = record.delivery
            hasAccount = record.accountID != nil
        }
    }

    // MARK: - Authorization

    /// Loads the organization and asks the policy; 404 for anyone who may not know it exists.
    private func authorize(_ action: OrganizationAction, _ context: KairanRequestContext) async throws -> (OrganizationRecord, OrganizationStanding, Actor) {
        try await authorizeOrganization(action, context, database: database)
    }

    /// A child of this organization, or 404.
    private func child(_ organization: OrganizationID, _ context: KairanRequestContext) async throws -> ChildRecord {
        let id = try context.parameters.require("childID", as: ChildID.self)
        let record = try await database.withConnection { connection in
            try await OrganizationStore.child(id: id, organization: organization, on: connection, logger: context.logger)
        }
        guard let record else { throw APIError.notFound }
        return record
    }

    // MARK: - Organizations

    struct CreateOrganization: Decodable {
        let kind: OrganizationKind
        let name: String
        /// The first org admin.
        let adminAccountId: AccountID
    }

    @Sendable func create(_ request: Request, context: KairanRequestContext) async throws -> EditedResponse<OrganizationResponse> {
        let actor = try context.requireActor()
        try APIError.check(Policy.decide(actor, .createOrganization))
        let input = try await request.decode(as: CreateOrganization.self, context: context)
        let name = try Content.text(input.name, field: "name", max: 100)
        let now = dependencies.clock.now()
        let record = try await database.withTransaction { connection in
            guard try await AccountStore.exists(id: input.adminAccountId, on: connection, logger: context.logger) else {
                throw APIError.validation(ValidationError(field: "adminAccountId", code: "unknown_account", message: "no account with that id"))
            }
            return try await OrganizationStore.insert(kind: input.kind, name: name, admin: input.adminAccountId, now: now, on: connection, logger: context.logger)
        }
        context.logger.info("organization created", metadata: ["organization_id": "\(record.id)"])
        return EditedResponse(status: .created, response: OrganizationResponse(record, myRole: input.adminAccountId == actor.accountID ? .orgAdmin : nil))
    }

    @Sendable func list(_ request: Request, context: KairanRequestContext) async throws -> Items<OrganizationResponse> {
        let actor = try context.requireActor()
        let records = try await database.withConnection { connection in
            try await OrganizationStore.list(for: actor.accountID, all: actor.isTownAdmin, on: connection, logger: context.logger)
        }
        return Items(items: records.map { OrganizationResponse($0, myRole: nil) })
    }

    @Sendable func show(_ request: Request, context: KairanRequestContext) async throws -> OrganizationResponse {
        let (record, standing, _) = try await authorize(.read, context)
        return OrganizationResponse(record, myRole: standing.role)
    }

    struct UpdateOrganization: Decodable {
        let name: String?
        let requiresApproval: Bool?
        let escalateAfterMinutes: Int?
        let absenceReasons: [String]?
        /// Absent: unchanged; null: no quiet hours; an object: set.
        let quietHours: TimeWindow??

        enum CodingKeys: String, CodingKey { case name, requiresApproval, quietHours, escalateAfterMinutes, absenceReasons }

        init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            name = try container.decodeIfPresent(String.self, forKey: .name)
            requiresApproval = try container.decodeIfPresent(Bool.self, forKey: .requiresApproval)
            escalateAfterMinutes = try container.decodeIfPresent(Int.self, forKey: .escalateAfterMinutes)
            absenceReasons = try container.decodeIfPresent([String].self, forKey: .absenceReasons)
            if container.contains(.quietHours) {
                quietHours = .some(try container.decodeNil(forKey: .quietHours) ? nil : try container.decode(TimeWindow.self, forKey: .quietHours))
            } else {
                quietHours = nil
            }
        }
    }

    @Sendable func update(_ request: Request, context: KairanRequestContext) async throws -> OrganizationResponse {
        let (record, standing, actor) = try await authorize(.administer, context)
        let input = try await request.decode(as: UpdateOrganization.self, context: context)
        let name = try input.name.map { try Content.text($0, field: "name", max: 100) }
        let quiet: (Int, Int)?? = try input.quietHours.map { hours in
            try hours.map { try $0.minutes(field: "quietHours") }
        }
        if let minutes = input.escalateAfterMinutes, !(1...1440).contains(minutes) {
            throw APIError.validation(ValidationError(field: "escalateAfterMinutes", code: "out_of_range", message: "escalateAfterMinutes must be between 1 and 1440"))
        }
        let reasons = try input.absenceReasons.map { reasons in
            guard (1...20).contains(reasons.count) else {
                throw APIError.validation(ValidationError(field: "absenceReasons", code: "out_of_range", message: "between 1 and 20 reasons"))
            }
            return try reasons.map { try Content.text($0, field: "absenceReasons", max: 30) }
        }
        let updated = try await database.withTransaction { connection in
            try await confirmOrganization(.administer, record.id, actor: try context.requireActor(), on: connection, logger: context.logger)
            try await OrganizationStore.update(record.id, name: name, quietHours: quiet, requiresApproval: input.requiresApproval,
                                               escalateAfterMinutes: input.escalateAfterMinutes, absenceReasons: reasons,
                                               on: connection, logger: context.logger)
            return try await OrganizationStore.standing(organization: record.id, account: actor.accountID, on: connection, logger: context.logger)?.0
        }
        guard let updated else { throw APIError.notFound }
        return OrganizationResponse(updated, myRole: standing.role)
    }

    // MARK: - Staff

    @Sendable func staff(_ request: Request, context: KairanRequestContext) async throws -> Items<StaffResponse> {
        let (record, _, _) = try await authorize(.manageChildren, context)
        let staff = try await database.withConnection { connection in
            try await OrganizationStore.staff(organization: record.id, on: connection, logger: context.logger)
        }
        return Items(items: staff.map {
            StaffResponse(accountId: $0.accountID, displayName: $0.displayName, role: $0.role, maySkipApproval: $0.maySkipApproval)
        })
    }

    struct SetStaff: Decodable {
        let role: OrganizationRole
        /// Absent: unchanged (false for new staff).
        let maySkipApproval: Bool?
    }

    @Sendable func setStaff(_ request: Request, context: KairanRequestContext) async throws -> HTTPResponse.Status {
        let (record, _, _) = try await authorize(.administer, context)
        let account = try context.parameters.require("accountID", as: AccountID.self)
        let input = try await request.decode(as: SetStaff.self, context: context)
        let now = dependencies.clock.now()
        try await database.withTransaction { connection in
            try await confirmOrganization(.administer, record.id, actor: try context.requireActor(), on: connection, logger: context.logger)
            guard try await AccountStore.exists(id: account, on: connection, logger: context.logger) else { throw APIError.notFound }
            guard try await OrganizationStore.changeStaff(organization: record.id, account: account, role: input.role,
                                                          maySkipApproval: input.maySkipApproval, now: now,
                                                          on: connection, logger: context.logger) else {
                throw APIError(.conflict, code: "last_admin", message: "the organization's last administrator cannot be made staff")
            }
            // A demoted admin loses the approval queue's stream.
            try await EventStore.append(EventStore.organizationStream(record.id), kind: "staff.changed",
                                        payload: StaffEvent(accountId: account), now: now, on: connection, logger: context.logger)
        }
        return .noContent
    }

    @Sendable func removeStaff(_ request: Request, context: KairanRequestContext) async throws -> HTTPResponse.Status {
        let (record, _, _) = try await authorize(.administer, context)
        let account = try context.parameters.require("accountID", as: AccountID.self)
        let now = dependencies.clock.now()
        let removed = try await database.withTransaction { connection in
            try await confirmOrganization(.administer, record.id, actor: try context.requireActor(), on: connection, logger: context.logger)
            let taught = try await OrganizationStore.classesTaught(by: account, organization: record.id, on: connection, logger: context.logger)
            guard try await OrganizationStore.removeStaff(organization: record.id, account: account, on: connection, logger: context.logger) else {
                return false
            }
            // Live subscriptions of the removed account are re-checked (and revoked).
            try await EventStore.append(EventStore.organizationStream(record.id), kind: "staff.removed",
                                        payload: StaffEvent(accountId: account), now: now, on: connection, logger: context.logger)
            for classID in taught {
                try await EventStore.append(EventStore.classStream(classID), kind: "teacher.removed",
                                            payload: StaffEvent(accountId: account), now: now, on: connection, logger: context.logger)
            }
            return true
        }
        guard removed else {
            throw APIError(.conflict, code: "last_admin_or_not_staff", message: "not staff here, or the organization's last administrator")
        }
        return .noContent
    }

    // MARK: - Classes and children

    @Sendable func classes(_ request: Request, context: KairanRequestContext) async throws -> Items<ClassResponse> {
        let (record, _, _) = try await authorize(.manageChildren, context)
        let classes = try await database.withConnection { connection in
            try await OrganizationStore.classes(organization: record.id, on: connection, logger: context.logger)
        }
        return Items(items: classes.map(ClassResponse.init))
    }

    struct CreateClass: Decodable {
        let name: String
        let grade: Int?
    }

    @Sendable func createClass(_ request: Request, context: KairanRequestContext) async throws -> EditedResponse<ClassResponse> {
        let (record, _, _) = try await authorize(.administer, context)
        let input = try await request.decode(as: CreateClass.self, context: context)
        let name = try Content.text(input.name, field: "name", max: 50)
        if let grade = input.grade, !(0...12).contains(grade) {
            throw APIError.validation(ValidationError(field: "grade", code: "out_of_range", message: "grade must be between 0 and 12"))
        }
        let created = try await database.withTransaction { connection in
            try await confirmOrganization(.administer, record.id, actor: try context.requireActor(), on: connection, logger: context.logger)
            return try await OrganizationStore.insertClass(organization: record.id, name: name, grade: input.grade, on: connection, logger: context.logger)
        }
        guard let created else { throw APIError(.conflict, code: "class_exists", message: "a class with this name exists") }
        return EditedResponse(status: .created, response: ClassResponse(created))
    }

    struct StaffEvent: Encodable {
        let accountId: AccountID
    }

    /// 担任: a staff member receives the class's absence reports.
    @Sendable func addTeacher(_ request: Request, context: KairanRequestContext) async throws -> HTTPResponse.Status {
        let (record, _, _) = try await authorize(.administer, context)
        let classID = try context.parameters.require("classID", as: ClassID.self)
        let account = try context.parameters.require("accountID", as: AccountID.self)
        let added = try await database.withTransaction { connection in
            try await confirmOrganization(.administer, record.id, actor: try context.requireActor(), on: connection, logger: context.logger)
            return try await OrganizationStore.addTeacher(account: account, toClass: classID, organization: record.id, on: connection, logger: context.logger)
        }
        guard added else { throw APIError(.notFound, code: "not_found", message: "no such class here, or the account is not staff here") }
        return .noContent
    }

    @Sendable func removeTeacher(_ request: Request, context: KairanRequestContext) async throws -> HTTPResponse.Status {
        let (record, _, _) = try await authorize(.administer, context)
        let classID = try context.parameters.require("classID", as: ClassID.self)
        let account = try context.parameters.require("accountID", as: AccountID.self)
        let now = dependencies.clock.now()
        let removed = try await database.withTransaction { connection in
            try await confirmOrganization(.administer, record.id, actor: try context.requireActor(), on: connection, logger: context.logger)
            guard try await OrganizationStore.removeTeacher(account: account, fromClass: classID, organization: record.id,
                                                            on: connection, logger: context.logger) else { return false }
            try await EventStore.append(EventStore.classStream(classID), kind: "teacher.removed",
                                        payload: StaffEvent(accountId: account), now: now, on: connection, logger: context.logger)
            return true
        }
        guard removed else { throw APIError.notFound }
        return .noContent
    }

    @Sendable func children(_ request: Request, context: KairanRequestContext) async throws -> Items<ChildResponse> {
        let (record, _, _) = try await authorize(.manageChildren, context)
        let classID = try request.cursor("classId")
        let children = try await database.withConnection { connection in
            try await OrganizationStore.children(organization: record.id, classID: classID, on: connection, logger: context.logger)
        }
        return Items(items: children.map(ChildResponse.init))
    }

    struct CreateChild: Decodable {
        let name: String
        let classId: ClassID?
        /// A brother or sister already enrolled here: the new child joins their household,
        /// so the family's guardians get each notice once.
        let siblingOf: ChildID?
    }

    @Sendable func createChild(_ request: Request, context: KairanRequestContext) async throws -> EditedResponse<ChildResponse> {
        let (record, _, _) = try await authorize(.manageChildren, context)
        let input = try await request.decode(as: CreateChild.self, context: context)
        let name = try Content.text(input.name, field: "name", max: 50)
        let now = dependencies.clock.now()
        let child = try await database.withTransaction { connection -> ChildRecord? in
            try await confirmOrganization(.manageChildren, record.id, actor: try context.requireActor(), on: connection, logger: context.logger)
            var household: Int64?
            if let sibling = input.siblingOf {
                guard try await OrganizationStore.child(id: sibling, organization: record.id, on: connection, logger: context.logger) != nil else {
                    throw APIError.validation(ValidationError(field: "siblingOf", code: "unknown_child", message: "no such child in this organization"))
                }
                household = try await OrganizationStore.household(of: sibling, now: now, on: connection, logger: context.logger)
            }
            return try await OrganizationStore.insertChild(organization: record.id, classID: input.classId, name: name, household: household,
                                                           now: now, on: connection, logger: context.logger)
        }
        guard let child else {
            throw APIError.validation(ValidationError(field: "classId", code: "unknown_class", message: "no such class in this organization"))
        }
        return EditedResponse(status: .created, response: ChildResponse(child))
    }

    // MARK: - Guardians

    @Sendable func guardians(_ request: Request, context: KairanRequestContext) async throws -> Items<GuardianResponse> {
        let (record, _, _) = try await authorize(.manageChildren, context)
        let child = try await child(record.id, context)
        let guardians = try await database.withConnection { connection in
            try await OrganizationStore.guardians(ofChild: child.id, on: connection, logger: context.logger)
        }
        return Items(items: guardians.map(GuardianResponse.init))
    }

    struct AddGuardian: Decodable {
        let name: String
        let email: String
        let phone: String?
    }

    /// A guardian without an app account: notices reach them by mail.
    @Sendable func addGuardian(_ request: Request, context: KairanRequestContext) async throws -> EditedResponse<GuardianResponse> {
        let (record, _, _) = try await authorize(.manageChildren, context)
        let child = try await child(record.id, context)
        let input = try await request.decode(as: AddGuardian.self, context: context)
        let name = try Content.text(input.name, field: "name", max: 50)
        let phone = try input.phone.map { try Content.text($0, field: "phone", max: 30) }
        let email: EmailAddress
        do throws(ValidationError) { email = try EmailAddress(input.email) } catch { throw APIError.validation(error) }
        let now = dependencies.clock.now()
        let guardian = try await database.withTransaction { connection in
            try await confirmOrganization(.manageChildren, record.id, actor: try context.requireActor(), on: connection, logger: context.logger)
            return try await OrganizationStore.addGuardian(child: child.id, name: name, email: email, phone: phone, now: now, on: connection, logger: context.logger)
        }
        return EditedResponse(status: .created, response: GuardianResponse(guardian))
    }

    struct LinkCodeResponse: ResponseEncodable, Sendable {
        let code: String
        let expiresAt: Date
    }

    /// A one-time code for the family: a guardian's account enters it to link to the child.
    @Sendable func createLinkCode(_ request: Request, context: KairanRequestContext) async throws -> EditedResponse<LinkCodeResponse> {
        let (record, _, _) = try await authorize(.manageChildren, context)
        let child = try await child(record.id, context)
        let now = dependencies.clock.now()
        let expires = now.addingTimeInterval(Self.linkCodeLifetime)
        // Easy to type from paper: 12 letters and digits without look-alikes.
        let alphabet = Array("ABCDEFGHJKLMNPQRSTUVWXYZ23456789")
        var generator = SystemRandomNumberGenerator()
        let code = String((0..<12).map { _ in alphabet[Int.random(in: 0..<alphabet.count, using: &generator)] })
        try await database.withTransaction { connection in
            try await confirmOrganization(.manageChildren, record.id, actor: try context.requireActor(), on: connection, logger: context.logger)
            try await OrganizationStore.createLinkCode(child: child.id, code: code, now: now, expires: expires, on: connection, logger: context.logger)
        }
        return EditedResponse(status: .created, response: LinkCodeResponse(code: code, expiresAt: expires))
    }
}

/// Inside a write's transaction: the caller's standing read again, under a share lock on
/// their staff row, and the policy asked again. A removal or demotion that commits while the
/// write runs then waits for it, and one that committed before is seen: the check made
/// before the transaction only answers early (404, 403 before the body is read).
func confirmOrganization(
    _ action: OrganizationAction, _ organization: OrganizationID, actor: Actor, on connection: PostgresConnection, logger: Logger
) async throws {
    guard let (_, standing) = try await OrganizationStore.standing(organization: organization, account: actor.accountID, lock: true,
                                                                   on: connection, logger: logger) else { throw APIError.notFound }
    try APIError.check(Policy.decide(actor, action, in: standing))
}

/// Loads the organization named by the route and asks the policy; 404 for anyone who may
/// not know it exists. Every organization route (and the notice routes) goes through it;
/// a route that writes asks again inside its transaction (`confirmOrganization`).
func authorizeOrganization(
    _ action: OrganizationAction, _ context: KairanRequestContext, database: Database
) async throws -> (OrganizationRecord, OrganizationStanding, Actor) {
    let actor = try context.requireActor()
    let id = try context.parameters.require("organizationID", as: OrganizationID.self)
    let loaded = try await database.withConnection { connection in
        try await OrganizationStore.standing(organization: id, account: actor.accountID, on: connection, logger: context.logger)
    }
    guard let (record, standing) = loaded else { throw APIError.notFound }
    try APIError.check(Policy.decide(actor, action, in: standing))
    return (record, standing, actor)
}

import Foundation
import Hummingbird
import KairanCore
import KairanServices

/// Organizations over JSON; the rules are `OrganizationService`'s. Each route asks early
/// (404 or 403 before its body is read); the service asks again inside the write.
struct OrganizationsController {
    let dependencies: APIDependencies
    var organizations: OrganizationService { dependencies.services.organizations }

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
        addHouseholdRoutes(to: routes)
        routes.post("/v1/organizations/{organizationID}/children", use: createChild)
        routes.get("/v1/organizations/{organizationID}/children/{childID}/guardians", use: guardians)
        routes.post("/v1/organizations/{organizationID}/children/{childID}/guardians", use: addGuardian)
        routes.post("/v1/organizations/{organizationID}/children/{childID}/link-codes", use: createLinkCode)
    }

    /// The organization named by the route, if the caller may do `action` there.
    func authorize(_ action: OrganizationAction, _ context: KairanRequestContext) async throws -> (Actor, OrganizationID) {
        let (actor, scope) = try await authorizeOrganization(action, context, services: dependencies.services)
        return (actor, scope.organization.id)
    }

    // MARK: - Organizations

    struct CreateOrganization: Decodable {
        let kind: OrganizationKind
        let name: String
        /// The first org admin.
        let adminAccountId: AccountID
    }

    @Sendable func create(_ request: Request, context: KairanRequestContext) async throws -> EditedResponse<OrganizationView> {
        let actor = try context.requireActor()
        try APIError.check(Policy.decide(actor, .createOrganization))
        let input = try await request.decode(as: CreateOrganization.self, context: context)
        let created = try await organizations.create(actor, kind: input.kind, name: input.name, admin: input.adminAccountId, logger: context.logger)
        return EditedResponse(status: .created, response: created)
    }

    @Sendable func list(_ request: Request, context: KairanRequestContext) async throws -> Items<OrganizationView> {
        let actor = try context.requireActor()
        return Items(items: try await organizations.list(actor, logger: context.logger))
    }

    @Sendable func show(_ request: Request, context: KairanRequestContext) async throws -> OrganizationView {
        let (_, scope) = try await authorizeOrganization(.read, context, services: dependencies.services)
        return OrganizationView(scope.organization, myRole: scope.standing.role)
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

    @Sendable func update(_ request: Request, context: KairanRequestContext) async throws -> OrganizationView {
        let (actor, id) = try await authorize(.administer, context)
        let input = try await request.decode(as: UpdateOrganization.self, context: context)
        let change = OrganizationService.Change(name: input.name, requiresApproval: input.requiresApproval, escalateAfterMinutes: input.escalateAfterMinutes,
                                                absenceReasons: input.absenceReasons, quietHours: input.quietHours)
        return try await organizations.update(actor, id, change, logger: context.logger)
    }

    // MARK: - Staff

    @Sendable func staff(_ request: Request, context: KairanRequestContext) async throws -> Items<StaffView> {
        let (actor, id) = try organizationRoute(context)
        return Items(items: try await organizations.staff(actor, id, logger: context.logger))
    }

    struct SetStaff: Decodable {
        let role: OrganizationRole
        /// Absent: unchanged (false for new staff).
        let maySkipApproval: Bool?
    }

    @Sendable func setStaff(_ request: Request, context: KairanRequestContext) async throws -> HTTPResponse.Status {
        let (actor, id) = try await authorize(.administer, context)
        let account = try context.parameters.require("accountID", as: AccountID.self)
        let input = try await request.decode(as: SetStaff.self, context: context)
        try await organizations.setStaff(actor, id, account: account, role: input.role, maySkipApproval: input.maySkipApproval, logger: context.logger)
        return .noContent
    }

    @Sendable func removeStaff(_ request: Request, context: KairanRequestContext) async throws -> HTTPResponse.Status {
        let (actor, id) = try await authorize(.administer, context)
        try await organizations.removeStaff(actor, id, account: try context.parameters.require("accountID", as: AccountID.self), logger: context.logger)
        return .noContent
    }

    // MARK: - Classes and children

    @Sendable func classes(_ request: Request, context: KairanRequestContext) async throws -> Items<ClassView> {
        let (actor, id) = try organizationRoute(context)
        return Items(items: try await organizations.classes(actor, id, logger: context.logger))
    }

    struct CreateClass: Decodable {
        let name: String
        let grade: Int?
    }

    @Sendable func createClass(_ request: Request, context: KairanRequestContext) async throws -> EditedResponse<ClassView> {
        let (actor, id) = try await authorize(.administer, context)
        let input = try await request.decode(as: CreateClass.self, context: context)
        return EditedResponse(status: .created, response: try await organizations.createClass(actor, id, name: input.name, grade: input.grade,
                                                                                              logger: context.logger))
    }

    /// 担任: a staff member receives the class's absence reports.
    @Sendable func addTeacher(_ request: Request, context: KairanRequestContext) async throws -> HTTPResponse.Status {
        let (actor, id) = try await authorize(.administer, context)
        let classID = try context.parameters.require("classID", as: ClassID.self)
        let account = try context.parameters.require("accountID", as: AccountID.self)
        try await organizations.addTeacher(actor, id, class: classID, account: account, logger: context.logger)
        return .noContent
    }

    @Sendable func removeTeacher(_ request: Request, context: KairanRequestContext) async throws -> HTTPResponse.Status {
        let (actor, id) = try await authorize(.administer, context)
        let classID = try context.parameters.require("classID", as: ClassID.self)
        let account = try context.parameters.require("accountID", as: AccountID.self)
        try await organizations.removeTeacher(actor, id, class: classID, account: account, logger: context.logger)
        return .noContent
    }

    @Sendable func children(_ request: Request, context: KairanRequestContext) async throws -> Items<ChildView> {
        let (actor, id) = try organizationRoute(context)
        return Items(items: try await organizations.children(actor, id, class: try request.cursor("classId"), logger: context.logger))
    }

    struct CreateChild: Decodable {
        let name: String
        let classId: ClassID?
        /// A brother or sister already enrolled here: the new child joins their household,
        /// so the family's guardians get each notice once.
        let siblingOf: ChildID?
    }

    @Sendable func createChild(_ request: Request, context: KairanRequestContext) async throws -> EditedResponse<ChildView> {
        let (actor, id) = try await authorize(.manageChildren, context)
        let input = try await request.decode(as: CreateChild.self, context: context)
        let child = try await organizations.createChild(actor, id, name: input.name, class: input.classId, siblingOf: input.siblingOf, logger: context.logger)
        return EditedResponse(status: .created, response: child)
    }

    // MARK: - Guardians

    @Sendable func guardians(_ request: Request, context: KairanRequestContext) async throws -> Items<GuardianView> {
        let (actor, id) = try organizationRoute(context)
        let child = try context.parameters.require("childID", as: ChildID.self)
        return Items(items: try await organizations.guardians(actor, id, child: child, logger: context.logger))
    }

    struct AddGuardian: Decodable {
        let name: String
        let email: String
        let phone: String?
    }

    /// A guardian without an app account: notices reach them by mail.
    @Sendable func addGuardian(_ request: Request, context: KairanRequestContext) async throws -> EditedResponse<GuardianView> {
        let (actor, id) = try await authorize(.manageChildren, context)
        let child = try context.parameters.require("childID", as: ChildID.self)
        let input = try await request.decode(as: AddGuardian.self, context: context)
        let guardian = try await organizations.addGuardian(actor, id, child: child, name: input.name, email: input.email, phone: input.phone,
                                                           logger: context.logger)
        return EditedResponse(status: .created, response: guardian)
    }

    /// A one-time code for the family: a guardian's account enters it to link to the child.
    @Sendable func createLinkCode(_ request: Request, context: KairanRequestContext) async throws -> EditedResponse<LinkCodeView> {
        let (actor, id) = try await authorize(.manageChildren, context)
        let child = try context.parameters.require("childID", as: ChildID.self)
        return EditedResponse(status: .created, response: try await organizations.createLinkCode(actor, id, child: child, logger: context.logger))
    }
}

/// The caller and the organization the route names, without asking the database: for
/// reads, which have no body to protect and whose use case asks the policy itself.
func organizationRoute(_ context: KairanRequestContext) throws -> (Actor, OrganizationID) {
    (try context.requireActor(), try context.parameters.require("organizationID", as: OrganizationID.self))
}

/// The organization named by the route, asked early: 404 for anyone who may not know it
/// exists, 403 for staff who may not do `action`, before the body is read. Every
/// organization route (and the notice routes) goes through it; the service asks again
/// inside its transaction.
func authorizeOrganization(
    _ action: OrganizationAction, _ context: KairanRequestContext, services: Services
) async throws -> (Actor, OrganizationScope) {
    let actor = try context.requireActor()
    let id = try context.parameters.require("organizationID", as: OrganizationID.self)
    return (actor, try await services.organizations.authorize(actor, id, for: action, logger: context.logger))
}

extension OrganizationView: ResponseEncodable {}
extension ClassView: ResponseEncodable {}
extension LinkCodeView: ResponseEncodable {}

import Foundation
import Hummingbird
import KairanCore
import KairanServices
import KairanStore

/// 欠席・遅刻連絡 over JSON; the rules are `AbsenceService`'s.
struct AbsencesController {
    let dependencies: APIDependencies
    var absences: AbsenceService { dependencies.services.absences }

    func addRoutes(to routes: some RouterMethods<KairanRequestContext>) {
        routes.post("/v1/me/children/{childID}/absences", use: report)
        routes.get("/v1/me/absences", use: mine)
        routes.get("/v1/organizations/{organizationID}/absences", use: inbox)
        routes.post("/v1/organizations/{organizationID}/absences/{absenceID}/acknowledge", use: acknowledge)
    }

    struct ReportInput: Decodable {
        let kind: AbsenceKind
        /// "YYYY-MM-DD"
        let day: String
        let reason: String
        let note: String?
    }

    @Sendable func report(_ request: Request, context: KairanRequestContext) async throws -> EditedResponse<AbsenceRecord> {
        let actor = try context.requireActor()
        let childID = try context.parameters.require("childID", as: ChildID.self)
        let input = try await request.decode(as: ReportInput.self, context: context)
        let record = try await absences.report(actor, child: childID, .init(kind: input.kind, day: input.day, reason: input.reason, note: input.note),
                                               logger: context.logger)
        return EditedResponse(status: .created, response: record)
    }

    @Sendable func mine(_ request: Request, context: KairanRequestContext) async throws -> Items<AbsenceRecord> {
        let actor = try context.requireActor()
        return Items(items: try await absences.mine(actor, logger: context.logger))
    }

    /// A teacher's inbox: reports for the classes they teach; org admins see every class.
    @Sendable func inbox(_ request: Request, context: KairanRequestContext) async throws -> Page<AbsenceRecord> {
        let (actor, organization) = try organizationRoute(context)
        return try await absences.inbox(actor, in: organization, day: request.uri.queryParameters["day"].map(String.init),
                                        class: try request.cursor("classId"), before: try request.cursor("before"), limit: try request.pageLimit(),
                                        logger: context.logger)
    }

    @Sendable func acknowledge(_ request: Request, context: KairanRequestContext) async throws -> AbsenceRecord {
        let (actor, scope) = try await authorizeOrganization(.sendNotices, context, services: dependencies.services)
        let id = try context.parameters.require("absenceID", as: AbsenceReportID.self)
        return try await absences.acknowledge(actor, id, in: scope.organization.id, logger: context.logger)
    }
}

extension AbsenceRecord: ResponseEncodable {}

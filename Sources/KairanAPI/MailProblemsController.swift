import Foundation
import Hummingbird
import KairanCore
import KairanServices

/// Suppressions, dead letters and bounce reports for the town's alert staff; requeueing and
/// lifting a suppression for its administrators. Addresses travel in bodies, never in paths
/// or query strings, so no access log holds them.
struct MailProblemsController {
    let dependencies: APIDependencies
    var problems: MailProblemService { dependencies.services.mailProblems }

    func addRoutes(to routes: some RouterMethods<KairanRequestContext>) {
        routes.get("/v1/mail/suppressions", use: suppressions)
        routes.post("/v1/mail/suppressions/lift", use: liftSuppression)
        routes.get("/v1/mail/dead-letters", use: deadLetters)
        routes.post("/v1/mail/dead-letters/requeue", use: requeue)
        routes.get("/v1/mail/bounces", use: bounces)
    }

    @Sendable func suppressions(_ request: Request, context: KairanRequestContext) async throws -> Items<SuppressionView> {
        Items(items: try await problems.suppressions(try context.requireActor(), logger: context.logger))
    }

    struct Lift: Decodable {
        let email: String
    }

    @Sendable func liftSuppression(_ request: Request, context: KairanRequestContext) async throws -> HTTPResponse.Status {
        let actor = try context.requireActor()
        let input = try await request.decode(as: Lift.self, context: context)
        try await problems.liftSuppression(actor, email: input.email, logger: context.logger)
        return .noContent
    }

    @Sendable func deadLetters(_ request: Request, context: KairanRequestContext) async throws -> Page<DeadLetterView> {
        let actor = try context.requireActor()
        let text = request.uri.queryParameters["state"].map(String.init) ?? "dead"
        guard let state = MailProblemService.DeadLetterState(rawValue: text) else { throw APIError.badRequest("state is dead, failed or all") }
        return try await problems.deadLetters(actor, state: state, message: try request.cursor("messageId"), before: try request.cursor("before"),
                                              limit: try request.pageLimit(), logger: context.logger)
    }

    struct Requeue: Decodable {
        let ids: [Int64]?
        let messageId: Int64?
    }

    struct Requeued: ResponseEncodable, Sendable {
        let requeued: [Int64]
    }

    @Sendable func requeue(_ request: Request, context: KairanRequestContext) async throws -> Requeued {
        let actor = try context.requireActor()
        let input = try await request.decode(as: Requeue.self, context: context)
        return Requeued(requeued: try await problems.requeue(actor, ids: input.ids, message: input.messageId, logger: context.logger))
    }

    @Sendable func bounces(_ request: Request, context: KairanRequestContext) async throws -> Page<BounceReportView> {
        let actor = try context.requireActor()
        return try await problems.bounces(actor, before: try request.cursor("before"), limit: try request.pageLimit(), logger: context.logger)
    }
}

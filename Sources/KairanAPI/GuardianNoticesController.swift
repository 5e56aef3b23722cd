import Foundation
import Hummingbird
import KairanCore
import KairanServices

/// The guardian's notices over JSON: from every organization their children are in,
/// opened, confirmed and answered by the rules of `GuardianNoticeService` (which the mail
/// link's page shares).
struct GuardianNoticesController {
    let dependencies: APIDependencies
    var notices: GuardianNoticeService { dependencies.services.guardianNotices }

    func addRoutes(to routes: some RouterMethods<KairanRequestContext>) {
        routes.get("/v1/me/notices", use: list)
        routes.get("/v1/me/notices/{noticeID}", use: show)
        routes.post("/v1/me/notices/{noticeID}/confirm", use: confirm)
        routes.put("/v1/me/notices/{noticeID}/answers/{childID}", use: answer)
    }

    @Sendable func list(_ request: Request, context: KairanRequestContext) async throws -> Page<GuardianNoticeView> {
        let actor = try context.requireActor()
        return try await notices.list(actor, before: try request.cursor("before"), limit: try request.pageLimit(), logger: context.logger)
    }

    /// The logged-in guardian and the route's notice.
    func reader(_ context: KairanRequestContext) throws -> GuardianNoticeService.Reader {
        .account(try context.requireActor(), try context.parameters.require("noticeID", as: NoticeID.self))
    }

    /// Opening the notice in the app counts as opened (not as confirmed).
    @Sendable func show(_ request: Request, context: KairanRequestContext) async throws -> GuardianNoticeView {
        try await notices.open(try reader(context), logger: context.logger)
    }

    @Sendable func confirm(_ request: Request, context: KairanRequestContext) async throws -> GuardianNoticeView {
        try await notices.confirm(try reader(context), logger: context.logger)
    }

    struct AnswerInput: Decodable {
        let choices: [Int]?
        let text: String?
    }

    /// One answer per child; any guardian of the household may change it until the deadline.
    @Sendable func answer(_ request: Request, context: KairanRequestContext) async throws -> GuardianNoticeView {
        let input = try await request.decode(as: AnswerInput.self, context: context)
        let child = try context.parameters.require("childID", as: ChildID.self)
        return try await notices.answer(try reader(context), [child: .init(choices: input.choices ?? [], text: input.text)], logger: context.logger)
    }
}

extension GuardianNoticeView: ResponseEncodable {}
extension ChildView: ResponseEncodable {}
extension GuardianView: ResponseEncodable {}

import Foundation
import Hummingbird
import KairanCore
import KairanServices
import KairanStore

/// Moderators' actions on queue items, appeals, the log and the settings.
extension ModerationController {
    struct ActionInput: Decodable {
        let action: ModerationActionKind
        let reason: String
        /// Suspensions (required) and bans (absent: for good), in hours.
        let durationHours: Int?
        /// Suspensions: "group" (default) or "town" (the town's moderators only).
        let scope: String?
    }

    @Sendable func act(_ request: Request, context: KairanRequestContext) async throws -> ModerationItemView {
        let actor = try context.requireActor()
        let id = try context.parameters.require("itemID", as: ModerationItemID.self)
        let input = try await request.decode(as: ActionInput.self, context: context)
        return try await moderation.decide(actor, item: id, ModerationDecision(action: input.action, reason: input.reason,
                                                                            durationHours: input.durationHours, scope: input.scope),
                                           logger: context.logger)
    }

    // MARK: - Appeals

    struct AppealInput: Decodable {
        let text: String
    }

    /// The author of a removed post asks the town's moderators to look again, once.
    @Sendable func appeal(_ request: Request, context: KairanRequestContext) async throws -> EditedResponse<AppealRecord> {
        let actor = try context.requireActor()
        let id = try context.parameters.require("itemID", as: ModerationItemID.self)
        let input = try await request.decode(as: AppealInput.self, context: context)
        return EditedResponse(status: .created, response: try await moderation.appeal(actor, item: id, text: input.text, logger: context.logger))
    }

    @Sendable func appeals(_ request: Request, context: KairanRequestContext) async throws -> Page<AppealRecord> {
        let actor = try context.requireActor()
        try moderation.requireTownModerator(actor)
        let state = try request.uri.queryParameters["state"].map { text in
            guard let state = ModerationService.AppealState(rawValue: String(text)) else { throw APIError.badRequest("unknown state '\(text)'") }
            return state
        }
        return try await moderation.appeals(actor, state: state, before: try request.cursor("before"), limit: try request.pageLimit(), logger: context.logger)
    }

    struct AppealDecision: Decodable {
        /// "uphold" (the removal stands) or "reverse" (the post is restored).
        let decision: String
        let reason: String
    }

    @Sendable func decideAppeal(_ request: Request, context: KairanRequestContext) async throws -> AppealRecord {
        let actor = try context.requireActor()
        try moderation.requireTownModerator(actor)
        let id = try context.parameters.require("appealID", as: AppealID.self)
        let input = try await request.decode(as: AppealDecision.self, context: context)
        guard ["uphold", "reverse"].contains(input.decision) else {
            throw APIError.validation(ValidationError(field: "decision", code: "invalid_decision", message: "decision is uphold or reverse"))
        }
        return try await moderation.decideAppeal(actor, id, reverse: input.decision == "reverse", reason: input.reason, logger: context.logger)
    }

    // MARK: - The log and settings

    @Sendable func log(_ request: Request, context: KairanRequestContext) async throws -> Page<ModerationStore.LogEntry> {
        let actor = try context.requireActor()
        try moderation.requireTownModerator(actor)
        return try await moderation.log(actor, before: try request.cursor("before"), limit: try request.pageLimit(), logger: context.logger)
    }

    /// The whole log as CSV, newest first, streamed a page at a time.
    @Sendable func exportLog(_ request: Request, context: KairanRequestContext) async throws -> Response {
        let actor = try context.requireActor()
        let moderation = self.moderation
        // Asked before the body starts: a refusal is still an ordinary 403.
        try moderation.requireTownModerator(actor)
        let logger = context.logger
        let requestTimeout = dependencies.requestTimeout
        let body = ResponseBody { writer in
            try await writer.write(ByteBuffer(string: "id,at,action,actor_id,item_id,post_id,group_id,subject_id,reason,detail\r\n"))
            var before: Int64?
            while true {
                // Each page within the request timeout: the body is written after the
                // request's own deadline has let go.
                let rows = try await moderation.log(actor, before: before, limit: 1000, timeLimit: requestTimeout, logger: logger).items
                guard !rows.isEmpty else { break }
                var chunk = ""
                for row in rows {
                    func id(_ value: Int64?) -> String { value.map { String($0) } ?? "" }
                    let fields: [String] = [String(row.id), CSV.date(row.at), row.action, id(row.actorId), id(row.itemId), id(row.postId),
                                            id(row.groupId), id(row.subjectId), row.reason, row.detail]
                    chunk += fields.map(CSV.field).joined(separator: ",") + "\r\n"
                }
                try await writer.write(ByteBuffer(string: chunk))
                before = rows.last?.id
            }
            try await writer.finish(nil)
        }
        var headers: HTTPFields = [:]
        headers[.contentType] = "text/csv; charset=utf-8"
        headers[.contentDisposition] = "attachment; filename=\"moderation-log.csv\""
        return Response(status: .ok, headers: headers, body: body)
    }

    /// Absent fields keep their value.
    struct SettingsInput: Decodable {
        let autoHideScore: Double?
        let newAccountDays: Int?
        let newAccountPostsPerHour: Int?
        let newAccountMaxLinks: Int?
    }

    struct SettingsBody: ResponseEncodable, Sendable {
        let autoHideScore: Double
        let newAccountDays: Int
        let newAccountPostsPerHour: Int
        let newAccountMaxLinks: Int
        init(_ settings: ModerationSettings) {
            autoHideScore = settings.autoHideScore; newAccountDays = settings.newAccountDays
            newAccountPostsPerHour = settings.newAccountPostsPerHour; newAccountMaxLinks = settings.newAccountMaxLinks
        }
    }

    @Sendable func settings(_ request: Request, context: KairanRequestContext) async throws -> SettingsBody {
        let actor = try context.requireActor()
        return SettingsBody(try await moderation.settings(actor, logger: context.logger))
    }

    @Sendable func updateSettings(_ request: Request, context: KairanRequestContext) async throws -> SettingsBody {
        let actor = try context.requireActor()
        try moderation.requireSettingsAdministrator(actor)
        let patch = try await request.decode(as: SettingsInput.self, context: context)
        let change = ModerationSettingsChange(autoHideScore: patch.autoHideScore, newAccountDays: patch.newAccountDays,
                                              newAccountPostsPerHour: patch.newAccountPostsPerHour, newAccountMaxLinks: patch.newAccountMaxLinks)
        return SettingsBody(try await moderation.updateSettings(actor, change, logger: context.logger))
    }
}

extension AppealRecord: ResponseEncodable {}
extension ModerationStore.LogEntry: ResponseEncodable {}

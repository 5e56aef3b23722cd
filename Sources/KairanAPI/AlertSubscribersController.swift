import Foundation
import Hummingbird
import KairanCore
import KairanServices
import KairanStore

/// Alert categories and areas (town administrators) and subscribers (alert staff, for
/// residents who register on paper at the town office).
struct AlertSubscribersController {
    let dependencies: APIDependencies
    var database: Database { dependencies.database }

    func addRoutes(to routes: some RouterMethods<KairanRequestContext>) {
        routes.get("/v1/alert-categories", use: categories)
        routes.put("/v1/alert-categories/{code}", use: putCategory)
        routes.get("/v1/alert-areas", use: areas)
        routes.put("/v1/alert-areas/{code}", use: putArea)
        routes.get("/v1/alert-subscribers", use: subscribers)
        routes.post("/v1/alert-subscribers", use: createSubscriber)
        routes.delete("/v1/alert-subscribers/{subscriberID}", use: removeSubscriber)
    }

    struct CategoryResponse: ResponseEncodable, Sendable {
        let code: String
        let name: String
        let mandatory: Bool
        let position: Int
        let archived: Bool
        init(_ record: AlertCategoryRecord) {
            code = record.code; name = record.name; mandatory = record.mandatory; position = record.position; archived = record.archived
        }
    }

    struct AreaResponse: ResponseEncodable, Sendable {
        let code: String
        let name: String
        let position: Int
        let archived: Bool
        init(_ record: AlertAreaRecord) {
            code = record.code; name = record.name; position = record.position; archived = record.archived
        }
    }

    @Sendable func categories(_ request: Request, context: KairanRequestContext) async throws -> Items<CategoryResponse> {
        _ = try context.requireActor()
        let records = try await database.withConnection { try await AlertStore.categories(on: $0, logger: context.logger) }
        return Items(items: records.map(CategoryResponse.init))
    }

    struct PutCategory: Decodable {
        let name: String?
        let mandatory: Bool?
        let position: Int?
        let archived: Bool?
    }

    static func code(_ context: KairanRequestContext, pattern: String) throws -> String {
        guard let code = context.parameters.get("code"), code.range(of: pattern, options: .regularExpression) != nil else {
            throw APIError.validation(ValidationError(field: "code", code: "invalid_code", message: "code must match \(pattern)"))
        }
        return code
    }

    /// Creates or edits a category. Marking one mandatory makes every subscriber receive it.
    @Sendable func putCategory(_ request: Request, context: KairanRequestContext) async throws -> CategoryResponse {
        let actor = try context.requireActor()
        try APIError.check(Policy.decide(actor, .configureAlerts))
        let code = try Self.code(context, pattern: "^[a-z][a-z0-9_]{0,31}$")
        let input = try await request.decode(as: PutCategory.self, context: context)
        let name = try input.name.map { try Content.text($0, field: "name", max: 30) }
        if let position = input.position, !(0...10_000).contains(position) {
            throw APIError.validation(ValidationError(field: "position", code: "out_of_range", message: "position must be between 0 and 10000"))
        }
        let now = dependencies.clock.now()
        let record = try await database.withTransaction { connection in
            try await AlertStore.upsertCategory(code: code, name: name, mandatory: input.mandatory, position: input.position,
                                                archived: input.archived, now: now, on: connection, logger: context.logger)
        }
        guard let record else {
            throw APIError.validation(ValidationError(field: "name", code: "required", message: "a new category needs a name"))
        }
        return CategoryResponse(record)
    }

    @Sendable func areas(_ request: Request, context: KairanRequestContext) async throws -> Items<AreaResponse> {
        _ = try context.requireActor()
        let records = try await database.withConnection { try await AlertStore.areas(on: $0, logger: context.logger) }
        return Items(items: records.map(AreaResponse.init))
    }

    struct PutArea: Decodable {
        let name: String?
        let position: Int?
        let archived: Bool?
    }

    @Sendable func putArea(_ request: Request, context: KairanRequestContext) async throws -> AreaResponse {
        let actor = try context.requireActor()
        try APIError.check(Policy.decide(actor, .configureAlerts))
        let code = try Self.code(context, pattern: "^[a-z0-9][a-z0-9_-]{0,31}$")
        let input = try await request.decode(as: PutArea.self, context: context)
        let name = try input.name.map { try Content.text($0, field: "name", max: 30) }
        if let position = input.position, !(0...10_000).contains(position) {
            throw APIError.validation(ValidationError(field: "position", code: "out_of_range", message: "position must be between 0 and 10000"))
        }
        let now = dependencies.clock.now()
        let record = try await database.withTransaction { connection in
            try await AlertStore.upsertArea(code: code, name: name, position: input.position, archived: input.archived, now: now,
                                            on: connection, logger: context.logger)
        }
        guard let record else {
            throw APIError.validation(ValidationError(field: "name", code: "required", message: "a new area needs a name"))
        }
        return AreaResponse(record)
    }

    struct SubscriberResponse: ResponseEncodable, Sendable {
        let id: Int64
        let email: String
        let status: String
        let charset: String
        /// Nil when mail may come at any hour.
        let receiveWindow: TimeWindow?
        let categories: [String]
        let areas: [String]
        let createdAt: Date
        init(_ record: SubscriberRecord) {
            id = record.id; email = record.email; status = record.status; charset = record.charset
            receiveWindow = TimeWindow(start: record.windowStart, end: record.windowEnd)
            categories = record.categoryCodes; areas = record.areaCodes; createdAt = record.createdAt
        }
    }

    @Sendable func subscribers(_ request: Request, context: KairanRequestContext) async throws -> Page<SubscriberResponse> {
        let actor = try context.requireActor()
        try APIError.check(Policy.decide(actor, .sendAlerts))
        let query = request.uri.queryParameters
        let status = try query["status"].map { text -> String in
            guard ["active", "suppressed", "unsubscribed"].contains(String(text)) else {
                throw APIError.badRequest("status must be active, suppressed or unsubscribed")
            }
            return String(text)
        }
        let emailKey = try query["email"].map { text -> String in
            do throws(ValidationError) { return try EmailAddress(String(text)).comparisonKey } catch { throw APIError.validation(error) }
        }
        let before = try request.cursor("before")
        let limit = try request.pageLimit()
        let records = try await database.withConnection { connection in
            try await AlertStore.subscribers(status: status, emailKey: emailKey, before: before, limit: limit, on: connection, logger: context.logger)
        }
        let items = records.map(SubscriberResponse.init)
        return Page(items: items, nextBefore: items.count == limit ? items.last?.id : nil)
    }

    struct CreateSubscriber: Decodable {
        let email: String
        let charset: String?
        let categories: [String]?
        let areas: [String]?
        let receiveWindow: TimeWindow?
    }

    /// Registers a resident who consented on paper at the town office (no mail round trip).
    @Sendable func createSubscriber(_ request: Request, context: KairanRequestContext) async throws -> EditedResponse<SubscriberResponse> {
        let actor = try context.requireActor()
        try APIError.check(Policy.decide(actor, .sendAlerts))
        let input = try await request.decode(as: CreateSubscriber.self, context: context)
        let address: EmailAddress
        do throws(ValidationError) { address = try EmailAddress(input.email) } catch { throw APIError.validation(error) }
        let preferences = try Self.preferences(charset: input.charset, categories: input.categories, areas: input.areas,
                                               window: try input.receiveWindow?.minutes(field: "receiveWindow"))
        let now = dependencies.clock.now()
        let record = try await database.withTransaction { connection in
            try await AlertStore.subscribe(address, preferences: preferences, token: RandomToken.urlSafe(byteCount: 24), now: now, on: connection, logger: context.logger)
        }
        context.logger.info("alert subscriber registered by staff", metadata: ["subscriber_id": "\(record.id)", "domain": "\(address.domain.lowercased())"])
        return EditedResponse(status: .created, response: SubscriberResponse(record))
    }

    static func preferences(charset: String?, categories: [String]?, areas: [String]?, window: (start: Int, end: Int)?) throws -> AlertStore.Preferences {
        let charset = charset ?? "utf-8"
        guard ["utf-8", "iso-2022-jp"].contains(charset) else {
            throw APIError.validation(ValidationError(field: "charset", code: "invalid_charset", message: "charset must be utf-8 or iso-2022-jp"))
        }
        guard (categories?.count ?? 0) <= 50, (areas?.count ?? 0) <= 100 else {
            throw APIError.validation(ValidationError(field: "categories", code: "too_many", message: "too many categories or areas"))
        }
        return AlertStore.Preferences(charset: charset, windowStart: window?.start, windowEnd: window?.end, categoryCodes: categories, areaCodes: areas ?? [])
    }

    @Sendable func removeSubscriber(_ request: Request, context: KairanRequestContext) async throws -> HTTPResponse.Status {
        let actor = try context.requireActor()
        try APIError.check(Policy.decide(actor, .sendAlerts))
        let id = try context.parameters.require("subscriberID", as: Int64.self)
        let now = dependencies.clock.now()
        let found = try await database.withTransaction { connection in
            try await AlertStore.unsubscribe(subscriber: id, now: now, on: connection, logger: context.logger)
        }
        guard found else { throw APIError.notFound }
        return .noContent
    }
}

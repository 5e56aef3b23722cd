import Foundation
import Hummingbird
import KairanCore
import KairanServices
import KairanStore

/// Alert categories and areas (town administrators) and subscribers (alert staff, for
/// residents who register on paper at the town office) over JSON; the rules are
/// `AlertService`'s.
struct AlertSubscribersController {
    let dependencies: APIDependencies
    var alerts: AlertService { dependencies.services.alertService }

    func addRoutes(to routes: some RouterMethods<KairanRequestContext>) {
        routes.get("/v1/alert-categories", use: categories)
        routes.put("/v1/alert-categories/{code}", use: putCategory)
        routes.get("/v1/alert-areas", use: areas)
        routes.put("/v1/alert-areas/{code}", use: putArea)
        routes.get("/v1/alert-subscribers", use: subscribers)
        routes.post("/v1/alert-subscribers", use: createSubscriber)
        routes.delete("/v1/alert-subscribers/{subscriberID}", use: removeSubscriber)
    }

    @Sendable func categories(_ request: Request, context: KairanRequestContext) async throws -> Items<AlertCategoryView> {
        _ = try context.requireActor()
        return Items(items: try await alerts.categories(logger: context.logger))
    }

    struct PutCategory: Decodable {
        let name: String?
        let mandatory: Bool?
        let position: Int?
        let archived: Bool?
    }

    /// Creates or edits a category. Marking one mandatory makes every subscriber receive it.
    @Sendable func putCategory(_ request: Request, context: KairanRequestContext) async throws -> AlertCategoryView {
        let actor = try context.requireActor()
        try alerts.requireConfigurer(actor)
        let code = context.parameters.get("code") ?? ""
        let input = try await request.decode(as: PutCategory.self, context: context)
        return try await alerts.putCategory(actor, code: code, name: input.name, mandatory: input.mandatory, position: input.position,
                                            archived: input.archived, logger: context.logger)
    }

    @Sendable func areas(_ request: Request, context: KairanRequestContext) async throws -> Items<AlertAreaView> {
        _ = try context.requireActor()
        return Items(items: try await alerts.areas(logger: context.logger))
    }

    struct PutArea: Decodable {
        let name: String?
        let position: Int?
        let archived: Bool?
    }

    @Sendable func putArea(_ request: Request, context: KairanRequestContext) async throws -> AlertAreaView {
        let actor = try context.requireActor()
        try alerts.requireConfigurer(actor)
        let code = context.parameters.get("code") ?? ""
        let input = try await request.decode(as: PutArea.self, context: context)
        return try await alerts.putArea(actor, code: code, name: input.name, position: input.position, archived: input.archived, logger: context.logger)
    }

    @Sendable func subscribers(_ request: Request, context: KairanRequestContext) async throws -> Page<SubscriberView> {
        let actor = try context.requireActor()
        try alerts.requireAlertStaff(actor)
        let query = request.uri.queryParameters
        let status = try query["status"].map { text -> AlertService.SubscriberStatus in
            guard let status = AlertService.SubscriberStatus(rawValue: String(text)) else {
                throw APIError.badRequest("status must be active, suppressed or unsubscribed")
            }
            return status
        }
        return try await alerts.subscribers(actor, status: status, email: query["email"].map(String.init), before: try request.cursor("before"),
                                            limit: try request.pageLimit(), logger: context.logger)
    }

    struct CreateSubscriber: Decodable {
        let email: String
        let charset: String?
        let categories: [String]?
        let areas: [String]?
        let receiveWindow: TimeWindow?
    }

    /// Registers a resident who consented on paper at the town office (no mail round trip).
    @Sendable func createSubscriber(_ request: Request, context: KairanRequestContext) async throws -> EditedResponse<SubscriberView> {
        let actor = try context.requireActor()
        try alerts.requireAlertStaff(actor)
        let input = try await request.decode(as: CreateSubscriber.self, context: context)
        let subscriber = try await alerts.createSubscriber(actor, email: input.email, .init(charset: input.charset, categories: input.categories,
                                                                                             areas: input.areas, receiveWindow: input.receiveWindow),
                                                           logger: context.logger)
        return EditedResponse(status: .created, response: subscriber)
    }

    @Sendable func removeSubscriber(_ request: Request, context: KairanRequestContext) async throws -> HTTPResponse.Status {
        let actor = try context.requireActor()
        try alerts.requireAlertStaff(actor)
        try await alerts.removeSubscriber(actor, try context.parameters.require("subscriberID", as: Int64.self), logger: context.logger)
        return .noContent
    }
}

extension AlertCategoryView: ResponseEncodable {}
extension AlertAreaView: ResponseEncodable {}
extension SubscriberView: ResponseEncodable {}

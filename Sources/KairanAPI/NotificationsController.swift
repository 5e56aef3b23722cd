import Foundation
import Hummingbird
import KairanCore
import KairanServices

/// A person's notifications: listed here, and pushed live on their `user:<id>` stream.
struct NotificationsController {
    let dependencies: APIDependencies
    var notifications: NotificationService { dependencies.services.notifications }

    func addRoutes(to routes: some RouterMethods<KairanRequestContext>) {
        routes.get("/v1/notifications", use: list)
        routes.put("/v1/notifications/{notificationID}/read", use: markRead)
    }

    @Sendable func list(_ request: Request, context: KairanRequestContext) async throws -> Page<NotificationView> {
        let actor = try context.requireActor()
        return try await notifications.list(actor, before: try request.cursor("before"), limit: try request.pageLimit(), logger: context.logger)
    }

    @Sendable func markRead(_ request: Request, context: KairanRequestContext) async throws -> HTTPResponse.Status {
        let actor = try context.requireActor()
        try await notifications.markRead(actor, try context.parameters.require("notificationID", as: Int64.self), logger: context.logger)
        return .noContent
    }
}

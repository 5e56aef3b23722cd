import Foundation
import Hummingbird
import KairanCore
import KairanServices

/// Web Push: the key browsers subscribe with, the caller's own devices, and which of the
/// town's alerts they get on them.
struct PushDevicesController {
    let dependencies: APIDependencies
    var push: PushService { dependencies.services.pushDevices }

    func addRoutes(to routes: some RouterMethods<KairanRequestContext>) {
        routes.get("/v1/push/key", use: key)
        routes.get("/v1/me/push-devices", use: list)
        routes.post("/v1/me/push-devices", use: subscribe)
        routes.delete("/v1/me/push-devices/{deviceID}", use: unsubscribe)
        routes.get("/v1/me/alert-push", use: alertChoices)
        routes.put("/v1/me/alert-push", use: setAlertChoices)
    }

    struct AlertChoicesInput: Decodable {
        let enabled: Bool
        let categories: [String]?
        let areas: [String]?
    }

    @Sendable func alertChoices(_ request: Request, context: KairanRequestContext) async throws -> AlertService.PushChoices {
        try await dependencies.services.alertService.pushChoices(try context.requireActor(), logger: context.logger)
    }

    @Sendable func setAlertChoices(_ request: Request, context: KairanRequestContext) async throws -> AlertService.PushChoices {
        let actor = try context.requireActor()
        let input = try await request.decode(as: AlertChoicesInput.self, context: context)
        return try await dependencies.services.alertService.setPushChoices(actor, enabled: input.enabled, categories: input.categories,
                                                                          areas: input.areas, logger: context.logger)
    }

    struct KeyResponse: ResponseEncodable {
        let publicKey: String
    }

    struct DeviceList: ResponseEncodable {
        let items: [PushDeviceView]
    }

    @Sendable func key(_ request: Request, context: KairanRequestContext) async throws -> KeyResponse {
        KeyResponse(publicKey: try await push.publicKey())
    }

    @Sendable func list(_ request: Request, context: KairanRequestContext) async throws -> DeviceList {
        DeviceList(items: try await push.devices(try context.requireActor()))
    }

    @Sendable func subscribe(_ request: Request, context: KairanRequestContext) async throws -> EditedResponse<PushDeviceView> {
        let actor = try context.requireActor()
        let input = try await request.decode(as: PushSubscriptionJSON.self, context: context)
        let device = try await push.subscribe(actor, input, logger: context.logger)
        return EditedResponse(status: .created, response: device)
    }

    @Sendable func unsubscribe(_ request: Request, context: KairanRequestContext) async throws -> HTTPResponse.Status {
        let actor = try context.requireActor()
        try await push.unsubscribe(actor, id: try context.parameters.require("deviceID", as: Int64.self), logger: context.logger)
        return .noContent
    }
}

extension PushDeviceView: ResponseEncodable {}

extension AlertService.PushChoices: ResponseEncodable {}

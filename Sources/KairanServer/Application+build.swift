import Hummingbird
import KairanAPI
import KairanCore
import KairanDelivery
import KairanStore
import Logging
import PostgresNIO
import ServiceLifecycle

/// Builds the whole server: the router, the pooled database client and the background
/// services for the configured role. The `serve` command and the tests both call this.
func buildApplication(
    _ configuration: ServerConfiguration,
    clock: any WallClock = SystemWallClock(),
    logger: Logger
) throws -> some ApplicationProtocol {
    let client = PostgresClient(configuration: try configuration.database.clientConfiguration(), backgroundLogger: logger)
    let database = Database(client: client, logger: logger)
    let dependencies = APIDependencies(
        database: database, clock: clock, passwordHasher: PasswordHasher(), sessionLifetime: configuration.sessionLifetime)

    let (router, _) = buildRouter(dependencies, includeAPI: configuration.role.servesAPI)

    var services: [any Service] = [client]
    if configuration.role.runsWorkers {
        services.append(MaintenanceWorker(database: database, clock: clock, logger: logger))
    }
    return Application(
        router: router,
        configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: "kairan"),
        services: services,
        logger: logger
    )
}

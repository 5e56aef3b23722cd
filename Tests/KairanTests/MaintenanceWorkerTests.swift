import Foundation
import HummingbirdTesting
import KairanDelivery
import KairanStore
import PostgresNIO
import Testing

@testable import KairanServer

@Suite struct MaintenanceWorkerTests {
    @Test func endedSessionsAreDeletedAfterRetentionAndLiveOnesKept() async throws {
        let clock = TestClock()
        try await withApp(clock: clock, configure: { $0.sessionLifetime = 3600 }) { client, url in
            let ended = try await client.registerAndLogin(email: "old@example.jp")
            #expect(try await client.send(.delete, "/v1/sessions/current", token: ended).status == .noContent)
            _ = try await client.registerAndLogin(email: "expiring@example.jp")
            clock.advance(by: 2 * 3600 + 60)
            let live = try await client.login(email: "old@example.jp", password: "correct horse battery")

            try await TestDatabase.withClient(url) { database in
                let worker = MaintenanceWorker(database: database, clock: clock, sessionRetention: 3600, logger: TestDatabase.logger)
                #expect(await worker.runOnce() == 2)
                #expect(await worker.runOnce() == 0)
            }
            #expect(try await client.send(.get, "/v1/me", token: live).status == .ok)
        }
    }
}

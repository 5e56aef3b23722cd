import Foundation
import HummingbirdTesting
import KairanDelivery
import Testing

@testable import KairanServer

/// Why an alert did not reach someone, as the town's staff find out, and the repairs.
extension AlertServiceTests {
    /// One subscriber's address is refused for good, another's mailbox never takes mail:
    /// the alert's progress counts them apart (failed, dead); alert staff see the suppressed
    /// address with the refusal and the dead letter with its last reply; only a town
    /// administrator requeues it (sent again at once) or lifts the suppression.
    @Test func staffSeeWhyMailDidNotArriveAndAdministratorsRepairIt() async throws {
        var script = ScriptedSMTPServer.Script()
        script.recipientReplies = ["gone": "550 5.1.1 user unknown", "never": "451 4.2.2 mailbox full"]
        let server = ScriptedSMTPServer(script)
        try await server.start()
        try await withTown { town in
            for email in ["gone@example.jp", "never@example.jp", "fine@example.jp"] { try await subscribe(town, email) }
            let created = try await sendAlert(town, category: "disaster")
            #expect(created.status == .created, "\(created.text)")
            let alert = try #require(try created.json()["id"] as? Int)
            let settings: (inout MailDeliveryConfiguration) -> Void = { $0.maxAttempts = 2; $0.hardBounceLimit = 1 }
            _ = try await deliver(town, to: server, configure: settings)
            town.clock.advance(by: 3600)
            _ = try await deliver(town, to: server, configure: settings)

            let progress = try #require(try await town.client.send(.get, "/v1/alerts/\(alert)", token: town.staff).json()["progress"] as? [String: Any])
            #expect(progress["sent"] as? Int == 1 && progress["failed"] as? Int == 1 && progress["dead"] as? Int == 1, "\(progress)")

            let suppressions = try await town.client.send(.get, "/v1/mail/suppressions", token: town.staff).items()
            #expect(suppressions.count == 1)
            #expect(suppressions.first?["email"] as? String == "gone@example.jp")
            #expect(suppressions.first?["hardBounces"] as? Int == 1 && suppressions.first?["lastReply"] as? String == "550 5.1.1 user unknown")
            #expect(try await town.client.send(.get, "/v1/mail/suppressions", token: town.resident).status == .forbidden)

            let dead = try await town.client.send(.get, "/v1/mail/dead-letters", token: town.staff).items()
            #expect(dead.count == 1)
            let letter = try #require(dead.first)
            #expect(letter["address"] as? String == "never@example.jp" && letter["state"] as? String == "dead" && letter["attempts"] as? Int == 2)
            #expect(letter["lastReply"] as? String == "451 4.2.2 mailbox full" && letter["kind"] as? String == "alert")
            let failed = try await town.client.send(.get, "/v1/mail/dead-letters?state=failed", token: town.staff).items()
            #expect(failed.map { $0["address"] as? String } == ["gone@example.jp"])
            #expect(try await town.client.send(.get, "/v1/mail/dead-letters?state=lost", token: town.staff).status == .badRequest)
            #expect(try await town.client.send(.get, "/v1/mail/dead-letters", token: town.resident).status == .forbidden)

            // Requeued by an administrator: tried again at once (the mailbox is still full,
            // so it is back to retrying), and no longer a dead letter.
            let id = try #require(letter["id"] as? Int)
            #expect(try await town.client.send(.post, "/v1/mail/dead-letters/requeue", json: jsonObject(["ids": [id]]), token: town.staff).status == .forbidden)
            #expect(try await town.client.send(.post, "/v1/mail/dead-letters/requeue", json: "{}", token: town.admin).errorCode() == "required")
            #expect(try await town.client.send(.post, "/v1/mail/dead-letters/requeue", json: jsonObject(["ids": Array(1...1001)]),
                                               token: town.admin).errorCode() == "out_of_range")
            let requeued = try await town.client.send(.post, "/v1/mail/dead-letters/requeue", json: jsonObject(["ids": [id]]), token: town.admin)
            #expect(try requeued.json()["requeued"] as? [Int] == [id], "\(requeued.text)")
            #expect(try await deliver(town, to: server, configure: settings) == 1, "tried again at once")
            let retried = progressOf(try await town.client.send(.get, "/v1/alerts/\(alert)", token: town.staff))
            #expect(retried["retrying"] as? Int == 1 && retried["dead"] as? Int == 0, "\(retried)")
            #expect(try await town.client.send(.get, "/v1/mail/dead-letters", token: town.staff).items().isEmpty)
            // The suppressed address's job is not requeued while it stays suppressed.
            let failedID = try #require(failed.first?["id"] as? Int)
            #expect(try await town.client.send(.post, "/v1/mail/dead-letters/requeue", json: jsonObject(["ids": [failedID]]), token: town.admin)
                .json()["requeued"] as? [Int] == [])

            // Lifted once the resident fixed their address: mail goes to it again.
            #expect(try await town.client.send(.post, "/v1/mail/suppressions/lift", json: jsonObject(["email": "gone@example.jp"]), token: town.staff).status == .forbidden)
            #expect(try await town.client.send(.post, "/v1/mail/suppressions/lift", json: jsonObject(["email": "not an address"]),
                                               token: town.admin).errorCode() == "invalid_email")
            #expect(try await town.client.send(.post, "/v1/mail/suppressions/lift", json: jsonObject(["email": "gone@example.jp"]), token: town.admin).status == .noContent)
            #expect(try await town.client.send(.post, "/v1/mail/suppressions/lift", json: jsonObject(["email": "gone@example.jp"]), token: town.admin).status == .notFound)
            #expect(try await town.client.send(.get, "/v1/mail/suppressions", token: town.staff).items().isEmpty)
            #expect(try await town.client.send(.post, "/v1/mail/dead-letters/requeue", json: jsonObject(["ids": [failedID]]), token: town.admin)
                .json()["requeued"] as? [Int] == [failedID])
            let again = try await sendAlert(town, category: "disaster", subject: "続報")
            #expect(try again.json()["recipients"] as? Int == 3, "the subscriber is active again")
        }
        await server.stop()
    }

    private func progressOf(_ response: TestResponse) -> [String: Any] {
        ((try? response.json())?["progress"] as? [String: Any]) ?? [:]
    }
}

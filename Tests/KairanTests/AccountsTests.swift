import Foundation
import NIOCore
import HummingbirdTesting
import KairanStore
import PostgresNIO
import Testing

@testable import KairanServer

@Suite struct AccountsTests {
    @Test func registerLoginMeLogout() async throws {
        try await withApp { client, _ in
            let created = try await client.send(.post, "/v1/accounts", json: #"{"email":"sato@example.jp","password":"correct horse battery","displayName":"佐藤 花子"}"#)
            #expect(created.status == .created)
            let body = try created.json()
            #expect(body["email"] as? String == "sato@example.jp")
            #expect(body["displayName"] as? String == "佐藤 花子")
            #expect(body["roles"] as? [String] == ["resident"])
            #expect(body["password"] == nil && body["passwordHash"] == nil)

            let session = try await client.send(.post, "/v1/sessions", json: #"{"email":"sato@example.jp","password":"correct horse battery"}"#)
            #expect(session.status == .created)
            let token = try #require(session.json()["token"] as? String)
            #expect(try session.json()["expiresAt"] is String)

            let me = try await client.send(.get, "/v1/me", token: token)
            #expect(me.status == .ok)
            #expect(try me.json()["displayName"] as? String == "佐藤 花子")
            #expect(try me.json()["id"] as? Int == body["id"] as? Int)

            let logout = try await client.send(.delete, "/v1/sessions/current", token: token)
            #expect(logout.status == .noContent)
            let after = try await client.send(.get, "/v1/me", token: token)
            #expect(after.status == .unauthorized)
            #expect(try after.errorCode() == "invalid_token")
        }
    }

    @Test func meWithoutATokenIs401() async throws {
        try await withApp { client, _ in
            let response = try await client.send(.get, "/v1/me")
            #expect(response.status == .unauthorized)
            #expect(try response.errorCode() == "unauthenticated")
        }
    }

    @Test func wrongPasswordAndUnknownAccountLookTheSame() async throws {
        try await withApp { client, _ in
            _ = try await client.registerAndLogin(email: "known@example.jp")
            let wrongPassword = try await client.send(.post, "/v1/sessions", json: #"{"email":"known@example.jp","password":"not the password"}"#)
            let unknown = try await client.send(.post, "/v1/sessions", json: #"{"email":"stranger@example.jp","password":"not the password"}"#)
            let malformed = try await client.send(.post, "/v1/sessions", json: #"{"email":"not-an-address","password":"not the password"}"#)
            #expect(wrongPassword.status == .unauthorized)
            #expect(unknown.status == wrongPassword.status && malformed.status == wrongPassword.status)
            #expect(unknown.text == wrongPassword.text && malformed.text == wrongPassword.text)
            #expect(try wrongPassword.errorCode() == "invalid_credentials")
        }
    }

    @Test func legacyCarrierAddressesRoundTripByteExact() async throws {
        try await withApp { client, url in
            for email in ["taro..yamada@docomo.ne.jp", "hanako.@ezweb.ne.jp"] {
                let token = try await client.registerAndLogin(email: email)
                let me = try await client.send(.get, "/v1/me", token: token)
                #expect(try me.json()["email"] as? String == email)
            }
            let stored = try await url.withSingleConnection(logger: TestDatabase.logger) { db in
                var emails: [String] = []
                for try await email in try await db.query("SELECT email FROM accounts ORDER BY id").decode(String.self) {
                    emails.append(email)
                }
                return emails
            }
            #expect(stored == ["taro..yamada@docomo.ne.jp", "hanako.@ezweb.ne.jp"])
            // The domain compares without case; the local part does not.
            _ = try await client.login(email: "taro..yamada@DOCOMO.NE.JP", password: "correct horse battery")
            let otherLocal = try await client.send(.post, "/v1/sessions", json: #"{"email":"TARO..yamada@docomo.ne.jp","password":"correct horse battery"}"#)
            #expect(otherLocal.status == .unauthorized)
        }
    }

    @Test func anAddressRegistersOnceWhateverTheDomainCase() async throws {
        try await withApp { client, _ in
            _ = try await client.registerAndLogin(email: "hanako.@ezweb.ne.jp")
            let again = try await client.send(.post, "/v1/accounts", json: #"{"email":"hanako.@EZWEB.ne.jp","password":"another password","displayName":"別人"}"#)
            #expect(again.status == .conflict)
            #expect(try again.errorCode() == "email_taken")
        }
    }

    @Test func expiredTokensAreRefused() async throws {
        let clock = TestClock()
        try await withApp(clock: clock, configure: { $0.sessionLifetime = 3600 }) { client, _ in
            let token = try await client.registerAndLogin(email: "expiry@example.jp")
            #expect(try await client.send(.get, "/v1/me", token: token).status == .ok)
            clock.advance(by: 3599)
            #expect(try await client.send(.get, "/v1/me", token: token).status == .ok)
            clock.advance(by: 2)
            let expired = try await client.send(.get, "/v1/me", token: token)
            #expect(expired.status == .unauthorized)
            #expect(try expired.errorCode() == "invalid_token")
        }
    }

    @Test func revokingOneSessionLeavesOthers() async throws {
        try await withApp { client, _ in
            let phone = try await client.registerAndLogin(email: "two@example.jp")
            let laptop = try await client.login(email: "two@example.jp", password: "correct horse battery")
            #expect(try await client.send(.delete, "/v1/sessions/current", token: phone).status == .noContent)
            #expect(try await client.send(.get, "/v1/me", token: phone).status == .unauthorized)
            #expect(try await client.send(.get, "/v1/me", token: laptop).status == .ok)
        }
    }

    @Test func tokensAreStoredOnlyAsHashes() async throws {
        try await withApp { client, url in
            let token = try await client.registerAndLogin(email: "hash@example.jp")
            let stored = try await url.withSingleConnection(logger: TestDatabase.logger) { db in
                var hashes: [ByteBuffer] = []
                for try await hash in try await db.query("SELECT token_hash FROM sessions").decode(ByteBuffer.self) {
                    hashes.append(hash)
                }
                return hashes
            }
            #expect(stored.count == 1)
            #expect(stored.first?.readableBytes == 32)
            #expect(stored.first != ByteBuffer(string: token))
            #expect(stored.first == SessionToken(value: token).hash)
        }
    }

    @Test(arguments: [
        (#"{"email":"bad","password":"correct horse battery","displayName":"x"}"#, "invalid_email", "email"),
        (#"{"email":"a@example.jp","password":"short","displayName":"x"}"#, "too_short", "password"),
        (#"{"email":"a@example.jp","password":"correct horse battery","displayName":"  "}"#, "required", "displayName"),
    ])
    func registrationValidationNamesTheField(_ body: String, _ code: String, _ field: String) async throws {
        try await withApp { client, _ in
            let response = try await client.send(.post, "/v1/accounts", json: body)
            #expect(response.status == .unprocessableContent)
            #expect(try response.errorCode() == code)
            #expect((try response.json()["error"] as? [String: Any])?["field"] as? String == field)
        }
    }
}

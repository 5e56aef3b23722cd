import Foundation
import HummingbirdTesting
import KairanServices
import Testing

@testable import KairanServer

/// Guessing passwords and flooding registrations are slowed down, per address and per
/// client, with 429 and Retry-After, before any password is hashed.
@Suite struct LoginThrottleTests {
    func login(_ client: any TestClientProtocol, _ email: String, _ password: String) async throws -> TestResponse {
        try await client.send(.post, "/v1/sessions", json: jsonObject(["email": email, "password": password]))
    }

    /// Three wrong passwords for one address (the limit here): the fourth try waits, even
    /// with the right password; another address does not; after the window, it works.
    @Test func failedLoginsForOneAddressMakeItWait() async throws {
        let clock = TestClock()
        try await withApp(clock: clock, configure: { $0.loginThrottle.failuresPerAddress = 3; $0.loginThrottle.window = 900 }) { client, _ in
            _ = try await client.registerAndLogin(email: "taro@example.jp")
            _ = try await client.registerAndLogin(email: "hanako@example.jp")
            for _ in 1...3 { #expect(try await login(client, "taro@example.jp", "wrong password here").status == .unauthorized) }
            let waiting = try await login(client, "taro@EXAMPLE.jp", "correct horse battery")
            #expect(waiting.status == .tooManyRequests, "the same address (the domain compares without case)")
            #expect(try waiting.errorCode() == "rate_limited")
            let retry = try #require(waiting.headers[.retryAfter].flatMap { Int($0) })
            #expect(retry > 0 && retry <= 900)
            #expect(try await login(client, "hanako@example.jp", "correct horse battery").status == .created, "another address is not held up")
            clock.advance(by: TimeInterval(retry))
            #expect(try await login(client, "taro@example.jp", "correct horse battery").status == .created, "the window has passed")
        }
    }

    /// Guessing through the password-change form counts as failed logins for the account's
    /// address: past the limit even the right current password waits, and so does the login
    /// page for that address.
    @Test func wrongCurrentPasswordsCountAsFailedLogins() async throws {
        try await withApp(configure: { $0.loginThrottle.failuresPerAddress = 3 }) { client, _ in
            let token = try await client.registerAndLogin(email: "taro@example.jp")
            func change(_ current: String) async throws -> TestResponse {
                try await client.send(.put, "/v1/me/password", json: jsonObject(["currentPassword": current, "newPassword": "a much better passphrase"]),
                                      token: token)
            }
            for _ in 1...3 { #expect(try await change("a wrong guess").errorCode() == "wrong_password") }
            let held = try await change("correct horse battery")
            #expect(held.status == .tooManyRequests)
            #expect(try held.errorCode() == "rate_limited" && held.headers[.retryAfter] != nil)
            #expect(try await login(client, "taro@example.jp", "correct horse battery").status == .tooManyRequests, "the login page waits too")
            #expect(try await client.send(.get, "/v1/me", token: token).status == .ok, "the session itself goes on")
        }
    }

    /// Many addresses tried from one place, and a flood of registrations from it, are held
    /// up by the client's network address.
    @Test func oneClientTryingManyAddressesOrRegisteringManyAccountsWaits() async throws {
        try await withLiveApp(configure: {
            $0.loginThrottle.failuresPerClient = 4
            $0.loginThrottle.registrationsPerClientPerHour = 3
        }) { client, _ in
            for index in 1...3 {
                let created = try await client.send(.post, "/v1/accounts", json: jsonObject([
                    "email": "resident\(index)@example.jp", "password": "correct horse battery", "displayName": "住民 \(index)"]))
                #expect(created.status == .created, "\(created.text)")
            }
            let flood = try await client.send(.post, "/v1/accounts", json: jsonObject([
                "email": "resident4@example.jp", "password": "correct horse battery", "displayName": "住民 4"]))
            #expect(try flood.errorCode() == "rate_limited" && flood.headers[.retryAfter] != nil)

            for index in 1...4 { #expect(try await login(client, "someone\(index)@example.jp", "guess guess guess").status == .unauthorized) }
            let held = try await login(client, "resident1@example.jp", "correct horse battery")
            #expect(try held.errorCode() == "rate_limited", "from this client, even a right password waits")
        }
    }
}

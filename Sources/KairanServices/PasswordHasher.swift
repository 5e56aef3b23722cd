import HummingbirdBcrypt
import KairanStore
import NIOPosix
import Synchronization

/// bcrypt on NIO's blocking-work pool: one hash takes a quarter of a second of CPU and must
/// not stall the event loops or Swift's cooperative threads.
public struct PasswordHasher: Sendable {
    public static let minimumCost: UInt8 = 12
    public let cost: UInt8

    public init(cost: UInt8 = PasswordHasher.minimumCost) {
        precondition(cost >= Self.minimumCost, "bcrypt cost must be at least \(Self.minimumCost)")
        self.cost = cost
    }

    /// A cheaper cost for the test suite only, where hundreds of accounts are made on two
    /// cores: the same bcrypt, 256 times less work. Nothing in `kairan` itself calls this.
    public init(testSuiteCost cost: UInt8) {
        precondition(cost >= 4, "bcrypt's own minimum cost is 4")
        self.cost = cost
    }

    public func hash(_ password: String) async throws -> String {
        let cost = self.cost
        return try await Self.admitted { try await NIOThreadPool.singleton.runIfActive { Bcrypt.hash(password, cost: cost) } }
    }

    public func verify(_ password: String, against hash: String) async throws -> Bool {
        try await Self.admitted { try await NIOThreadPool.singleton.runIfActive { Bcrypt.verify(password, hash: hash) } }
    }

    /// Hashes running or waiting for the thread pool (one thread per core runs them). Past
    /// `maxPending`, a login or registration is told to come back (429) instead of queueing:
    /// a flood of bcrypt work can slow logins down, not grow a queue without bound.
    private static let pending = Atomic<Int>(0)
    public static let maxPending = 64

    private static func admitted<T: Sendable>(_ work: () async throws -> T) async throws -> T {
        guard pending.add(1, ordering: .relaxed).newValue <= maxPending else {
            pending.subtract(1, ordering: .relaxed)
            throw ServiceError.rateLimited(action: "login", retryAfter: 1)
        }
        defer { pending.subtract(1, ordering: .relaxed) }
        return try await work()
    }

    /// Checked against when the account does not exist, so a wrong address costs the same
    /// time as a wrong password and the two cannot be told apart.
    public func verifyAgainstDummy(_ password: String) async throws {
        _ = try await verify(password, against: Self.dummyHash)
    }

    // A hash of a random string nobody knows, made once per process.
    private static let dummyHash: String = Bcrypt.hash(SessionToken.generate().value, cost: PasswordHasher.minimumCost)
}

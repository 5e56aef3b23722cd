import Foundation
import KairanCore
import KairanStore
import Logging

/// Who may subscribe to which stream: the same policy as the REST routes (reading a group
/// or a thread), and one's own notifications only.
public struct StreamAuthorizer: Sendable {
    public enum Verdict: Sendable, Equatable {
        /// Allowed; `group` is the group whose membership changes re-check the subscription.
        case allowed(group: GroupID?)
        case denied(String)
        /// Unknown, or hidden from this actor (a private group).
        case notFound
    }

    let database: Database
    let clock: any WallClock

    public init(database: Database, clock: any WallClock) {
        self.database = database
        self.clock = clock
    }

    public func check(_ actor: Actor, _ stream: StreamName, logger: Logger) async throws -> Verdict {
        let now = clock.now()
        let groupID: GroupID
        switch stream {
        case .user(let id):
            return id == actor.accountID ? .allowed(group: nil) : .denied("only your own notifications")
        case .group(let id):
            groupID = id
        case .thread(let id):
            guard let thread = try await database.withConnection({ connection in
                try await ThreadStore.findThread(id, reader: nil, on: connection, logger: logger)
            }) else { return .notFound }
            groupID = thread.groupID
        }
        guard let (_, standing) = try await database.withConnection({ connection in
            try await GroupStore.standing(group: groupID, account: actor.accountID, now: now, on: connection, logger: logger)
        }) else { return .notFound }
        switch Policy.decide(actor, .read, in: standing) {
        case .allow: return .allowed(group: groupID)
        case .deny(let reason): return .denied(reason)
        case .hidden: return .notFound
        }
    }
}

import Foundation
import KairanCore
import KairanStore
import Logging
import PostgresNIO

/// Who may subscribe to which stream: the same policy as the REST routes (reading a group
/// or a thread; an organization's staff and admins), and one's own notifications only.
public struct StreamAuthorizer: Sendable {
    public enum Verdict: Sendable, Equatable {
        /// Allowed; `watch` is the stream whose membership events (a member removed, a
        /// staff member removed, a teacher taken off a class) re-check the subscription.
        case allowed(watch: String?)
        case denied(String)
        /// Unknown, or hidden from this actor (a private group, another school's class).
        case notFound
    }

    let clock: any WallClock

    public init(clock: any WallClock) {
        self.clock = clock
    }

    /// The verdict as of `connection`'s snapshot. The hub runs it in a repeatable-read
    /// transaction that also reads the watched stream's head, so it knows exactly which
    /// membership changes the verdict has seen.
    public func check(_ actor: Actor, _ stream: StreamName, on db: DatabaseConnection) async throws -> Verdict {
        let now = clock.now()
        let groupID: GroupID
        switch stream {
        case .user(let id):
            return id == actor.accountID ? .allowed(watch: nil) : .denied("only your own notifications")
        case .organization(let id):
            return try await checkOrganization(id, .approveNotices, actor, watch: stream.description, on: db)
        case .notice(let id):
            guard let organization = try await NoticeStore.organization(ofNotice: id, on: db) else { return .notFound }
            return try await checkOrganization(
                organization, .sendNotices, actor, watch: EventStore.organizationStream(organization), on: db)
        case .alert(let id):
            switch Policy.decide(actor, .sendAlerts) {
            case .allow: return try await AlertStore.exists(id, on: db) ? .allowed(watch: nil) : .notFound
            case .deny(let reason): return .denied(reason)
            case .hidden: return .notFound
            }
        case .schoolClass(let id):
            guard let (organization, teaches) = try await OrganizationStore.teacher(account: actor.accountID, ofClass: id, on: db)
            else { return .notFound }
            // Absence reports go to the class's own teachers only.
            let verdict = try await checkOrganization(organization, .sendNotices, actor, watch: stream.description, on: db)
            guard case .allowed = verdict else { return verdict }
            return teaches ? verdict : .denied("only the class's teachers")
        case .group(let id):
            groupID = id
        case .thread(let id):
            // Only its group: counting the thread's posts would cost every subscription a read
            // of the whole thread.
            guard let thread = try await ThreadStore.findThread(id, reader: nil, counts: false, on: db) else { return .notFound }
            groupID = thread.groupID
        }
        guard let (_, standing) = try await GroupStore.standing(group: groupID, account: actor.accountID, now: now, on: db)
        else { return .notFound }
        switch Policy.decide(actor, .read, in: standing) {
        case .allow: return .allowed(watch: EventStore.groupStream(groupID))
        case .deny(let reason): return .denied(reason)
        case .hidden: return .notFound
        }
    }

    private func checkOrganization(
        _ id: OrganizationID, _ action: OrganizationAction, _ actor: Actor, watch: String, on db: DatabaseConnection
    ) async throws -> Verdict {
        guard let (_, standing) = try await OrganizationStore.standing(organization: id, account: actor.accountID, on: db)
        else { return .notFound }
        switch Policy.decide(actor, action, in: standing) {
        case .allow: return .allowed(watch: watch)
        case .deny(let reason): return .denied(reason)
        case .hidden: return .notFound
        }
    }
}

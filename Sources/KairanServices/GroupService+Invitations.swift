import Foundation
import KairanCore
import KairanStore
import Logging

/// An invitation, as the group's moderators and the invitee see it.
public struct InvitationView: Codable, Sendable {
    public let groupId: GroupID
    public let groupName: String
    public let accountId: AccountID
    public let displayName: String
    public let createdAt: Date
    init(_ record: GroupStore.InvitationRecord) {
        groupId = record.groupID; groupName = record.groupName; accountId = record.accountID
        displayName = record.displayName; createdAt = record.createdAt
    }
}

public struct BanView: Codable, Sendable {
    public let accountId: AccountID
    public let displayName: String
    public let reason: String
    public let createdAt: Date
    /// Absent: for good.
    public let expiresAt: Date?
}

/// One's own request to join a group that approves its members.
public struct OwnJoinRequestView: Codable, Sendable {
    public let groupId: GroupID
    public let groupName: String
    /// "pending" or "denied".
    public let state: String
    public let message: String
    public let createdAt: Date
}

/// Invitations, bans and join requests: listed and withdrawn by the group's moderators, and
/// found, accepted (`join`) or declined by the people they concern.
extension GroupService {
    public func invitations(_ actor: Actor, _ id: GroupID, logger: Logger) async throws -> [InvitationView] {
        let now = services.clock.now()
        return try await database.withConnection { db in
            _ = try await GroupAccess.group(.moderate, id, actor: actor, now: now, on: db)
            return try await GroupStore.invitations(group: id, on: db).map(InvitationView.init)
        }
    }

    /// `invite` with the invitee named by their login address (the group's members page).
    /// An address nobody registered is answered as one somebody did: a group's moderators
    /// must not learn from it who uses Kairan.
    public func invite(_ actor: Actor, _ id: GroupID, email rawEmail: String, logger: Logger) async throws {
        let email = try EmailAddress(rawEmail.trimmingCharacters(in: .whitespaces))
        let now = services.clock.now()
        let target = try await database.withConnection { db -> AccountID? in
            _ = try await GroupAccess.group(.moderate, id, actor: actor, now: now, on: db)
            return try await AccountStore.find(emailKey: email.comparisonKey, on: db)?.id
        }
        guard let target else {
            logger.info("invitation to an address without an account", metadata: ["group_id": "\(id)"])
            return
        }
        try await invite(actor, id, account: target, logger: logger)
    }

    public func withdrawInvitation(_ actor: Actor, _ id: GroupID, account target: AccountID, logger: Logger) async throws {
        let now = services.clock.now()
        try await database.withTransaction { db in
            _ = try await GroupAccess.group(.moderate, id, actor: actor, now: now, on: db)
            guard try await GroupStore.deleteInvitation(group: id, account: target, on: db) else { throw ServiceError.notFound }
            // The invitation's notification would point at a group they can no longer see.
            try await NotificationStore.deleteInvitation(to: target, group: id, on: db)
        }
    }

    public func bans(_ actor: Actor, _ id: GroupID, logger: Logger) async throws -> [BanView] {
        let now = services.clock.now()
        return try await database.withConnection { db in
            _ = try await GroupAccess.group(.moderate, id, actor: actor, now: now, on: db)
            return try await GroupStore.bans(group: id, now: now, on: db).map {
                BanView(accountId: $0.accountID, displayName: $0.displayName, reason: $0.reason, createdAt: $0.createdAt, expiresAt: $0.expiresAt)
            }
        }
    }

    /// The invitations the caller holds: each is accepted by joining the group.
    public func myInvitations(_ actor: Actor, logger: Logger) async throws -> [InvitationView] {
        try await database.withConnection { db in
            try await GroupStore.invitations(for: actor.accountID, on: db).map(InvitationView.init)
        }
    }

    public func declineInvitation(_ actor: Actor, _ id: GroupID, logger: Logger) async throws {
        try await database.withTransaction { db in
            guard try await GroupStore.deleteInvitation(group: id, account: actor.accountID, on: db) else { throw ServiceError.notFound }
        }
    }

    public func myJoinRequests(_ actor: Actor, logger: Logger) async throws -> [OwnJoinRequestView] {
        try await database.withConnection { db in
            try await GroupStore.joinRequests(of: actor.accountID, on: db).map {
                OwnJoinRequestView(groupId: $0.groupID, groupName: $0.groupName, state: $0.state, message: $0.message, createdAt: $0.createdAt)
            }
        }
    }

    public func withdrawJoinRequest(_ actor: Actor, _ id: GroupID, logger: Logger) async throws {
        try await database.withTransaction { db in
            guard try await GroupStore.withdrawJoinRequest(group: id, account: actor.accountID, on: db) else {
                throw ServiceError.notFound
            }
        }
    }
}

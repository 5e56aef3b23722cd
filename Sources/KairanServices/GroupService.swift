import Foundation
import KairanCore
import KairanStore
import Logging
import PostgresNIO

/// Groups and membership: create, list, join (open / approval / invite), leave, remove,
/// roles, requests, invitations and bans. Each change asks `Policy` inside its transaction;
/// the ones that change who belongs or with what role lock the group's row first, so two of
/// them cannot both pass a check that only one may (the last owner leaving twice).
public struct GroupService: Sendable {
    let services: Services
    var database: Database { services.database }

    public struct NewGroup: Sendable {
        public var kind: GroupKind
        public var name: String
        public var description: String?
        public var area: String?
        public var visibility: GroupVisibility
        public var joinPolicy: JoinPolicy
        public init(kind: GroupKind, name: String, description: String?, area: String?, visibility: GroupVisibility, joinPolicy: JoinPolicy) {
            self.kind = kind; self.name = name; self.description = description; self.area = area
            self.visibility = visibility; self.joinPolicy = joinPolicy
        }
    }

    /// Any resident may start a group; they become its owner.
    public func create(_ actor: Actor, _ input: NewGroup, logger: Logger) async throws -> GroupView {
        let name = try Content.text(input.name, field: "name", max: Content.groupNameMax)
        try Self.checkJoinPolicy(input.visibility, input.joinPolicy)
        let description = try input.description.map { try Content.text($0, field: "description", min: 0, max: Content.groupDescriptionMax, multiline: true) } ?? ""
        let area = try input.area.map { try Content.text($0, field: "area", max: Content.areaMax) }
        let now = services.clock.now()
        let group = try await database.withTransaction { db in
            try await GroupStore.insert(kind: input.kind, name: name, description: description, area: area, visibility: input.visibility,
                                        joinPolicy: input.joinPolicy, creator: actor.accountID, now: now, on: db)
        }
        return GroupView(group, myRole: .owner, memberCount: 1, unreadCount: 0)
    }

    public struct Directory: Sendable {
        public var kind: GroupKind?
        public var area: String?
        /// Only groups the caller belongs to.
        public var mine: Bool
        public init(kind: GroupKind? = nil, area: String? = nil, mine: Bool = false) {
            self.kind = kind; self.area = area; self.mine = mine
        }
    }

    /// The groups the caller can see (the town's moderators see every one).
    public func list(_ actor: Actor, _ filter: Directory, before: Int64?, limit: Int, logger: Logger) async throws -> Page<GroupView> {
        let listings = try await database.withConnection { db in
            try await GroupStore.list(for: actor.accountID, seesAll: actor.isTownModerator, kind: filter.kind, area: filter.area, memberOnly: filter.mine,
                                      before: before, limit: limit, on: db)
        }
        return Page(listings.map { GroupView($0.group, myRole: $0.role, memberCount: $0.memberCount, unreadCount: $0.unreadCount) },
                    limit: limit, cursor: \.id)
    }

    public func group(_ actor: Actor, _ id: GroupID, logger: Logger) async throws -> GroupView {
        let now = services.clock.now()
        return try await database.withConnection { db in
            guard let (group, standing) = try await GroupStore.standing(group: id, account: actor.accountID, now: now, on: db) else {
                throw ServiceError.notFound
            }
            // An invitee sees the group they are invited to (to decide), not its threads.
            if !(standing.invited && !standing.banned) { try Policy.decide(actor, .read, in: standing).require() }
            return GroupView(group, myRole: standing.banned ? nil : standing.role)
        }
    }

    /// Nobody outside a private group can find it, so nobody could ask to join one that
    /// approves its members: private groups are joined by invitation.
    static func checkJoinPolicy(_ visibility: GroupVisibility, _ joinPolicy: JoinPolicy) throws {
        if visibility == .private && joinPolicy == .approval {
            throw ValidationError(field: "joinPolicy", code: "invalid_join_policy",
                                  message: "a private group cannot be found to ask to join it: use invite, or make the group public")
        }
    }

    /// Changes to a group's settings; nil keeps a value, an empty area clears it.
    public struct GroupChange: Sendable {
        public var kind: GroupKind?
        public var name: String?
        public var description: String?
        public var area: String?
        public var visibility: GroupVisibility?
        public var joinPolicy: JoinPolicy?
        /// New accounts' posts wait for a moderator's approval.
        public var approveNewAccounts: Bool?
        public init(kind: GroupKind? = nil, name: String? = nil, description: String? = nil, area: String? = nil, visibility: GroupVisibility? = nil,
                    joinPolicy: JoinPolicy? = nil, approveNewAccounts: Bool? = nil) {
            self.kind = kind; self.name = name; self.description = description; self.area = area
            self.visibility = visibility; self.joinPolicy = joinPolicy; self.approveNewAccounts = approveNewAccounts
        }
    }

    public func update(_ actor: Actor, _ id: GroupID, _ change: GroupChange, logger: Logger) async throws -> GroupView {
        let now = services.clock.now()
        return try await database.withTransaction { db in
            var (group, standing) = try await GroupAccess.group(.administer, id, actor: actor, now: now, lock: true, on: db)
            let wasPublic = group.visibility == .public
            if let kind = change.kind { group.kind = kind }
            if let name = change.name { group.name = try Content.text(name, field: "name", max: Content.groupNameMax) }
            if let description = change.description {
                group.description = try Content.text(description, field: "description", min: 0, max: Content.groupDescriptionMax, multiline: true)
            }
            if let area = change.area { group.area = area.isEmpty ? nil : try Content.text(area, field: "area", max: Content.areaMax) }
            if let visibility = change.visibility { group.visibility = visibility }
            if let joinPolicy = change.joinPolicy { group.joinPolicy = joinPolicy }
            if let approve = change.approveNewAccounts { group.approveNewAccounts = approve }
            try Self.checkJoinPolicy(group.visibility, group.joinPolicy)
            try await GroupStore.update(group, on: db)
            try await EventStore.append(EventStore.groupStream(id), kind: "group.updated", payload: GroupView(group, myRole: nil),
                                        now: now, on: db)
            if wasPublic && group.visibility == .private {
                // The one change to a group's settings that ends anyone's access (outsiders
                // reading it): live streams re-check their readers on it, and on no other
                // edit (a rename of a big group must not re-check its whole audience).
                struct MadePrivate: Encodable { let groupId: GroupID }
                try await EventStore.append(EventStore.groupStream(id), kind: "group.made_private", payload: MadePrivate(groupId: id),
                                            now: now, on: db)
            }
            return GroupView(group, myRole: standing.role)
        }
    }

    // MARK: - Joining and leaving

    public enum Membership: String, Sendable {
        case member
        /// The group approves members: a moderator decides.
        case pending
    }

    /// Joins an open group (or one the caller is invited to), or asks to join one that
    /// approves its members.
    public func join(_ actor: Actor, _ id: GroupID, message rawMessage: String?, logger: Logger) async throws -> Membership {
        let message = try rawMessage.map { try Content.text($0, field: "message", min: 0, max: Content.requestMessageMax, multiline: true) } ?? ""
        let now = services.clock.now()
        return try await database.withTransaction { db in
            let (_, standing) = try await GroupAccess.group(.join, id, actor: actor, now: now, lock: true, on: db)
            let (settings, isNew) = try await ModerationStore.sandbox(account: actor.accountID, now: now, on: db)
            try await PostGate.checkRate(.join, actor: actor, isNewAccount: isNew, settings: settings, now: now, on: db)
            if standing.joinPolicy == .approval && !standing.invited {
                try await GroupStore.requestToJoin(group: id, account: actor.accountID, message: message, now: now, on: db)
                return .pending
            }
            try await GroupStore.addMember(group: id, account: actor.accountID, role: .member, now: now, on: db)
            try await Announce.member("member.joined", group: id, account: actor.accountID, role: .member, now: now, on: db)
            return .member
        }
    }

    public func leave(_ actor: Actor, _ id: GroupID, logger: Logger) async throws {
        let now = services.clock.now()
        try await database.withTransaction { db in
            // The group row is locked: two owners leaving at once cannot both be "not the last".
            let (_, standing) = try await GroupAccess.group(.leave, id, actor: actor, now: now, lock: true, on: db)
            if standing.role == .owner, try await GroupStore.ownerCount(group: id, on: db) <= 1 {
                throw ServiceError.conflict("last_owner", "the last owner cannot leave; make another member an owner first")
            }
            try await GroupStore.removeMember(group: id, account: actor.accountID, on: db)
            try await Announce.member("member.left", group: id, account: actor.accountID, role: nil, now: now, on: db)
        }
    }

    // MARK: - Members

    public struct Member: Codable, Sendable {
        public let accountId: AccountID
        public let displayName: String
        public let role: GroupRole
        public let joinedAt: Date
    }

    /// Members ordered by account id ascending; the page's cursor is for `after`.
    public func members(_ actor: Actor, _ id: GroupID, after: Int64?, limit: Int, logger: Logger) async throws -> Page<Member> {
        let now = services.clock.now()
        let members = try await database.withConnection { db in
            _ = try await GroupAccess.group(.read, id, actor: actor, now: now, on: db)
            return try await GroupStore.members(group: id, after: after, limit: limit, on: db)
        }
        return Page(members.map { Member(accountId: $0.accountID, displayName: $0.displayName, role: $0.role, joinedAt: $0.joinedAt) },
                    limit: limit, cursor: \.accountId)
    }

    /// Moderators remove members; only owners (or town admins) remove moderators and owners.
    public func removeMember(_ actor: Actor, _ id: GroupID, account target: AccountID, logger: Logger) async throws {
        let now = services.clock.now()
        try await database.withTransaction { db in
            let (_, standing) = try await GroupAccess.group(.moderate, id, actor: actor, now: now, lock: true, on: db)
            guard let targetStanding = try await GroupStore.standing(group: id, account: target, now: now, on: db)?.1,
                  let targetRole = targetStanding.role else { throw ServiceError.notFound }
            if targetRole >= .moderator {
                try Policy.decide(actor, .administer, in: standing).require()
                if targetRole == .owner, try await GroupStore.ownerCount(group: id, on: db) <= 1 {
                    throw ServiceError.conflict("last_owner", "the last owner cannot be removed")
                }
            }
            try await GroupStore.removeMember(group: id, account: target, on: db)
            try await Announce.member("member.removed", group: id, account: target, role: nil, now: now, on: db)
        }
    }

    public func setRole(_ actor: Actor, _ id: GroupID, account target: AccountID, role: GroupRole, logger: Logger) async throws {
        let now = services.clock.now()
        try await database.withTransaction { db in
            _ = try await GroupAccess.group(.administer, id, actor: actor, now: now, lock: true, on: db)
            let current = try await GroupStore.standing(group: id, account: target, now: now, on: db)?.1.role
            guard current != nil else { throw ServiceError.notFound }
            if current == .owner && role != .owner, try await GroupStore.ownerCount(group: id, on: db) <= 1 {
                throw ServiceError.conflict("last_owner", "the group must keep at least one owner")
            }
            _ = try await GroupStore.setRole(group: id, account: target, role: role, on: db)
            try await Announce.member("member.role_changed", group: id, account: target, role: role, now: now, on: db)
        }
    }

    // MARK: - Requests, invitations, bans

    public struct JoinRequestView: Codable, Sendable {
        public let accountId: AccountID
        public let displayName: String
        public let state: String
        public let message: String
        public let createdAt: Date
    }

    public enum JoinRequestState: String, Sendable {
        case pending, denied
    }

    public func joinRequests(_ actor: Actor, _ id: GroupID, state: JoinRequestState, logger: Logger) async throws -> [JoinRequestView] {
        let now = services.clock.now()
        let requests = try await database.withConnection { db in
            _ = try await GroupAccess.group(.moderate, id, actor: actor, now: now, on: db)
            return try await GroupStore.joinRequests(group: id, state: state.rawValue, on: db)
        }
        return requests.map {
            JoinRequestView(accountId: $0.accountID, displayName: $0.displayName, state: $0.state, message: $0.message, createdAt: $0.createdAt)
        }
    }

    /// Lets a pending (or earlier denied: a moderator may change their mind) request in.
    public func approveRequest(_ actor: Actor, _ id: GroupID, account target: AccountID, logger: Logger) async throws {
        let now = services.clock.now()
        try await database.withTransaction { db in
            _ = try await GroupAccess.group(.moderate, id, actor: actor, now: now, lock: true, on: db)
            guard try await GroupStore.joinRequestState(group: id, account: target, on: db) != nil else {
                throw ServiceError.notFound
            }
            try await GroupStore.addMember(group: id, account: target, role: .member, now: now, on: db)
            try await Announce.member("member.joined", group: id, account: target, role: .member, now: now, on: db)
        }
    }

    public func denyRequest(_ actor: Actor, _ id: GroupID, account target: AccountID, logger: Logger) async throws {
        let now = services.clock.now()
        try await database.withTransaction { db in
            _ = try await GroupAccess.group(.moderate, id, actor: actor, now: now, on: db)
            guard try await GroupStore.joinRequestState(group: id, account: target, on: db) == "pending" else {
                throw ServiceError.notFound
            }
            try await GroupStore.denyJoinRequest(group: id, account: target, by: actor.accountID, now: now, on: db)
        }
    }

    public func invite(_ actor: Actor, _ id: GroupID, account target: AccountID, logger: Logger) async throws {
        let now = services.clock.now()
        try await database.withTransaction { db in
            let (group, _) = try await GroupAccess.group(.moderate, id, actor: actor, now: now, on: db)
            guard let targetStanding = try await GroupStore.standing(group: id, account: target, now: now, on: db)?.1,
                  try await AccountStore.exists(id: target, on: db) else { throw ServiceError.notFound }
            if targetStanding.banned { throw ServiceError.conflict("banned", "lift the ban before inviting this person") }
            if targetStanding.role != nil { throw ServiceError.conflict("already_member", "already a member") }
            try await GroupStore.invite(group: id, account: target, by: actor.accountID, now: now, on: db)
            // Told at once, with the name: the group itself stays hidden from their lists.
            try await Notifier.notify(target, kind: "group.invited", .init(groupId: id, groupName: group.name), now: now, on: db)
        }
    }

    /// Bans someone from the group, for good or until `expiresAt`; only owners ban moderators.
    public func ban(_ actor: Actor, _ id: GroupID, account target: AccountID, reason rawReason: String?, expiresAt: Date?, logger: Logger) async throws {
        let reason = try rawReason.map { try Content.text($0, field: "reason", min: 0, max: Content.banReasonMax, multiline: true) } ?? ""
        let now = services.clock.now()
        try await database.withTransaction { db in
            let (_, standing) = try await GroupAccess.group(.moderate, id, actor: actor, now: now, lock: true, on: db)
            guard target != actor.accountID else { throw ServiceError.conflict("self_ban", "you cannot ban yourself") }
            guard try await AccountStore.exists(id: target, on: db) else { throw ServiceError.notFound }
            if let targetRole = try await GroupStore.standing(group: id, account: target, now: now, on: db)?.1.role,
               targetRole >= .moderator {
                try Policy.decide(actor, .administer, in: standing).require()
            }
            try await GroupStore.ban(group: id, account: target, by: actor.accountID, reason: reason, expiresAt: expiresAt, now: now,
                                     on: db)
            try await Announce.member("member.banned", group: id, account: target, role: nil, now: now, on: db)
        }
    }

    public func unban(_ actor: Actor, _ id: GroupID, account target: AccountID, logger: Logger) async throws {
        let now = services.clock.now()
        try await database.withTransaction { db in
            _ = try await GroupAccess.group(.moderate, id, actor: actor, now: now, on: db)
            try await GroupStore.unban(group: id, account: target, on: db)
        }
    }
}

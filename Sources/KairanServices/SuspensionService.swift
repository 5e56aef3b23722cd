import Foundation
import KairanCore
import KairanStore
import Logging
import PostgresNIO

/// A suspension as moderators see it. Who imposed it is in the moderation log, not here.
public struct SuspensionView: Codable, Sendable {
    public let id: Int64
    public let accountId: AccountID
    public let displayName: String
    /// "group" (`groupId` names it) or "town".
    public let scope: String
    public let groupId: GroupID?
    public let until: Date
    public let reason: String
    public let createdAt: Date
    public let active: Bool

    init(_ record: SuspensionStore.Record, now: Date) {
        id = record.id; accountId = record.accountID; displayName = record.accountName
        scope = record.groupID == nil ? "town" : "group"; groupId = record.groupID
        until = record.until; reason = record.reason; createdAt = record.createdAt; active = record.until > now
    }
}

/// Listing suspensions and correcting them: a mistaken suspension can be lifted or its end
/// moved, with a reason, in the moderation log, and the suspended person is told. A group's
/// moderators handle their group's suspensions; the town's moderators every one.
public struct SuspensionService: Sendable {
    let services: Services
    var database: Database { services.database }

    /// The longest a suspension may last, counted from when it was imposed (as when imposing).
    static let longest: TimeInterval = 8760 * 3600

    /// `group`: that group's suspensions (its moderators may ask); none: every suspension
    /// (the town's moderators). `includeEnded`: past ones too, for the record.
    public func list(
        _ actor: Actor, group: GroupID?, account: AccountID?, includeEnded: Bool, before: Int64?, limit: Int, logger: Logger
    ) async throws -> Page<SuspensionView> {
        let now = services.clock.now()
        let rows = try await database.withConnection { db -> [SuspensionStore.Record] in
            if let group {
                _ = try await GroupAccess.group(.moderate, group, actor: actor, now: now, on: db)
            } else {
                try Policy.decideTownModeration(actor).require()
            }
            return try await SuspensionStore.list(group: group, account: account, activeAt: includeEnded ? nil : now, before: before, limit: limit,
                                                  on: db)
        }
        return Page(rows.map { SuspensionView($0, now: now) }, limit: limit, cursor: \.id)
    }

    /// Ends a suspension now.
    public func lift(_ actor: Actor, _ id: Int64, reason rawReason: String, logger: Logger) async throws -> SuspensionView {
        let reason = try Content.text(rawReason, field: "reason", max: 500, multiline: true)
        return try await change(actor, id, reason: reason, lifting: true, logger: logger) { _, now in now }
    }

    /// Moves a suspension's end: shortened or lengthened, never past a year from when it
    /// was imposed, and always in the future (ending it now is `lift`).
    public func reschedule(_ actor: Actor, _ id: Int64, until: Date, reason rawReason: String, logger: Logger) async throws -> SuspensionView {
        let reason = try Content.text(rawReason, field: "reason", max: 500, multiline: true)
        return try await change(actor, id, reason: reason, lifting: false, logger: logger) { record, now in
            guard until > now else {
                throw ValidationError(field: "until", code: "in_the_past", message: "until must be in the future; lift the suspension to end it now")
            }
            guard until <= record.createdAt.addingTimeInterval(Self.longest) else {
                throw ValidationError(field: "until", code: "out_of_range", message: "a suspension lasts at most 8760 hours from when it was imposed")
            }
            return until
        }
    }

    private func change(
        _ actor: Actor, _ id: Int64, reason: String, lifting: Bool, logger: Logger,
        newEnd: (SuspensionStore.Record, Date) throws -> Date
    ) async throws -> SuspensionView {
        let now = services.clock.now()
        return try await database.withTransaction { db in
            guard let record = try await SuspensionStore.find(id, lock: true, on: db) else { throw ServiceError.notFound }
            if let group = record.groupID {
                _ = try await GroupAccess.group(.moderate, group, actor: actor, now: now, on: db)
            } else {
                // A stranger learns nothing about who is suspended from the town.
                guard actor.isTownModerator else { throw ServiceError.notFound }
            }
            guard record.until > now else { throw ServiceError.conflict("not_active", "this suspension has already ended") }
            let until = try newEnd(record, now)
            try await SuspensionStore.setEnd(id, until: until, on: db)
            let scope = record.groupID == nil ? "town" : "group"
            try await ModerationStore.log(
                lifting ? "suspension_lifted" : "suspension_changed", item: nil, post: nil, group: record.groupID, actor: actor.accountID,
                reason: reason, subject: record.accountID,
                detail: "\(scope) suspension \(id): until \(record.until.formatted(.iso8601)) → \(until.formatted(.iso8601))",
                now: now, on: db)
            try await Notifier.notify(record.accountID, kind: lifting ? "moderation.suspension_lifted" : "moderation.suspension_changed", .init(
                groupId: record.groupID, reason: reason, scope: scope, until: until.formatted(.iso8601)), now: now, on: db)
            guard let changed = try await SuspensionStore.find(id, lock: false, on: db) else { throw ServiceError.notFound }
            return SuspensionView(changed, now: now)
        }
    }
}

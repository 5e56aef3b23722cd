import Foundation
import KairanCore
import KairanStore
import Logging

/// A person's own notifications (mentions, moderation outcomes…), newest first.
public struct NotificationService: Sendable {
    let services: Services

    public func list(_ actor: Actor, before: Int64?, limit: Int, logger: Logger) async throws -> Page<NotificationView> {
        let records = try await services.database.withConnection { db in
            try await NotificationStore.list(account: actor.accountID, before: before, limit: limit, on: db)
        }
        let decoder = JSONDecoder()
        return Page(records, limit: limit, cursor: \.id).map { record in
            let data: NotificationPayload
            do {
                data = try decoder.decode(NotificationPayload.self, from: Data(record.payload.utf8))
            } catch {
                // Written by `Notifier` from this very type, so only a row written by an
                // older version with a field of another type gets here: the notification
                // still lists (kind, time) with what it was about left empty, rather than
                // failing the person's whole list.
                logger.warning("notification payload unreadable", metadata: ["notification_id": "\(record.id)"])
                data = NotificationPayload()
            }
            return NotificationView(id: record.id, kind: record.kind, createdAt: record.createdAt, read: record.readAt != nil, data: data)
        }
    }

    public func markRead(_ actor: Actor, _ id: Int64, logger: Logger) async throws {
        let now = services.clock.now()
        let found = try await services.database.withTransaction { db in
            try await NotificationStore.markRead(id: id, account: actor.accountID, now: now, on: db)
        }
        guard found else { throw ServiceError.notFound }
    }
}

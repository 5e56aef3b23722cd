import Foundation
import KairanCore
import KairanStore
import Logging

public struct SuppressionView: Codable, Sendable {
    /// The address as compared (local part as written, domain in lower case).
    public let email: String
    public let hardBounces: Int
    /// The last permanent refusal, as the receiving server worded it.
    public let lastReply: String?
    public let lastBounceAt: Date?
    public let suppressedAt: Date
}

public struct DeadLetterView: Codable, Sendable {
    public let id: Int64
    public let messageId: Int64
    public let kind: String
    public let subject: String
    public let address: String
    /// "dead" (temporary failures until the last attempt) or "failed" (refused for good).
    public let state: String
    public let attempts: Int
    public let lastReply: String?
    public let lastAttemptAt: Date?
}

public struct BounceReportView: Codable, Sendable {
    public let id: Int64
    public let deliveryId: Int64
    public let messageId: Int64
    public let address: String
    public let status: String
    public let action: String
    public let diagnostic: String?
    public let permanent: Bool
    public let receivedAt: Date
}

/// Why mail did not arrive, for the town's alert staff, and the repairs for its
/// administrators. Addresses are personal data: shown to these roles only, never logged.
public struct MailProblemService: Sendable {
    let services: Services
    var database: Database { services.database }

    public enum DeadLetterState: String, Sendable {
        case dead, failed, all
    }

    public func suppressions(_ actor: Actor, logger: Logger) async throws -> [SuppressionView] {
        try Policy.decide(actor, .sendAlerts).require()
        return try await database.withConnection { db in
            try await MailProblemStore.suppressions(limit: 500, on: db).map {
                SuppressionView(email: $0.emailKey, hardBounces: $0.hardBounces, lastReply: $0.lastReply, lastBounceAt: $0.lastBounceAt,
                                suppressedAt: $0.suppressedAt)
            }
        }
    }

    public func liftSuppression(_ actor: Actor, email rawEmail: String, logger: Logger) async throws {
        try Policy.decide(actor, .repairMailDelivery).require()
        let address: EmailAddress
        do {
            address = try EmailAddress(rawEmail)
        } catch {
            throw ValidationError(field: "email", code: "invalid_email", message: "not a mail address")
        }
        try await database.withTransaction { db in
            guard try await MailProblemStore.liftSuppression(emailKey: address.comparisonKey, on: db) else {
                throw ServiceError.notFound
            }
        }
        logger.info("mail suppression lifted", metadata: ["domain": "\(address.domain)"])
    }

    public func deadLetters(
        _ actor: Actor, state: DeadLetterState, message: Int64?, before: Int64?, limit: Int, logger: Logger
    ) async throws -> Page<DeadLetterView> {
        try Policy.decide(actor, .sendAlerts).require()
        let states = state == .all ? ["dead", "failed"] : [state.rawValue]
        let rows = try await database.withConnection { db in
            try await MailProblemStore.deadLetters(states: states, message: message, before: before, limit: limit, on: db)
        }
        return Page(rows.map {
            DeadLetterView(id: $0.id, messageId: $0.messageID, kind: $0.kind, subject: $0.subject, address: $0.address, state: $0.state,
                           attempts: $0.attempts, lastReply: $0.lastReply, lastAttemptAt: $0.lastAttemptAt)
        }, limit: limit, cursor: \.id)
    }

    /// The most jobs one requeue names.
    public static let requeueMax = 1000

    /// Back to the queue, attempts reset, due now: the named jobs, or every dead and failed
    /// job of one message. Jobs to addresses suppressed meanwhile stay (lift that first).
    public func requeue(_ actor: Actor, ids: [Int64]?, message: Int64?, logger: Logger) async throws -> [Int64] {
        try Policy.decide(actor, .repairMailDelivery).require()
        guard (ids == nil) != (message == nil) else {
            throw ValidationError(field: "ids", code: "required", message: "name either ids or messageId")
        }
        if let ids, ids.isEmpty || ids.count > Self.requeueMax {
            throw ValidationError(field: "ids", code: "out_of_range", message: "between 1 and \(Self.requeueMax) ids")
        }
        let now = services.clock.now()
        let requeued = try await database.withTransaction { db in
            try await MailProblemStore.requeue(ids: ids, message: message, now: now, on: db)
        }
        logger.info("dead mail requeued", metadata: ["count": "\(requeued.count)"])
        return requeued
    }

    public func bounces(_ actor: Actor, before: Int64?, limit: Int, logger: Logger) async throws -> Page<BounceReportView> {
        try Policy.decide(actor, .sendAlerts).require()
        let rows = try await database.withConnection { db in
            try await MailProblemStore.bounces(before: before, limit: limit, on: db)
        }
        return Page(rows.map {
            BounceReportView(id: $0.id, deliveryId: $0.deliveryID, messageId: $0.messageID, address: $0.address, status: $0.status,
                             action: $0.action, diagnostic: $0.diagnostic, permanent: $0.permanent, receivedAt: $0.receivedAt)
        }, limit: limit, cursor: \.id)
    }
}

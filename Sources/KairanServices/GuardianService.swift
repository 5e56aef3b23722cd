import Foundation
import KairanCore
import KairanStore
import Logging

/// A guardian's own side of the schools and nurseries: the children linked to them, linking
/// one with a code from the school, and how they want notices (app, mail or both).
public struct GuardianService: Sendable {
    let services: Services
    var database: Database { services.database }

    public func children(_ actor: Actor, logger: Logger) async throws -> [ChildView] {
        try await database.withConnection { db in
            try await OrganizationStore.children(ofGuardian: actor.accountID, on: db).map(ChildView.init)
        }
    }

    /// The caller's own guardian record (`notFound` before they linked a child).
    public func guardian(_ actor: Actor, logger: Logger) async throws -> GuardianView {
        let record = try await database.withConnection { db in
            try await OrganizationStore.guardian(account: actor.accountID, on: db)
        }
        guard let record else { throw ServiceError.notFound }
        return GuardianView(record)
    }

    /// Live in the app, by mail (any address, carrier ones included), or both. Mail with no
    /// address given, and none recorded, goes to the account's own address.
    public func setDelivery(_ actor: Actor, _ delivery: GuardianDelivery, email rawEmail: String?, phone rawPhone: String?, logger: Logger) async throws -> GuardianView {
        var email = try rawEmail.map { try EmailAddress($0) }
        let phone = try rawPhone.map { try Content.text($0, field: "phone", max: 30) }
        let record = try await database.withTransaction { db -> GuardianRecord in
            guard let current = try await OrganizationStore.guardian(account: actor.accountID, on: db) else {
                throw ServiceError.notFound
            }
            if delivery != .app, email == nil, current.email == nil,
               let account = try await AccountStore.find(id: actor.accountID, on: db) {
                // Accounts are registered with a checked address, so this parses; if it
                // ever did not, the guardian keeps app delivery's behaviour (no mail) rather
                // than failing the whole change.
                email = try? EmailAddress(account.email)
            }
            try await OrganizationStore.setDelivery(account: actor.accountID, delivery: delivery, email: email, phone: phone, on: db)
            guard let updated = try await OrganizationStore.guardian(account: actor.accountID, on: db) else {
                throw ServiceError.notFound
            }
            return updated
        }
        return GuardianView(record)
    }

    /// Links the caller to a child with the code the school handed out.
    public func linkChild(_ actor: Actor, code rawCode: String, logger: Logger) async throws -> ChildView {
        let code = rawCode.uppercased().filter { !$0.isWhitespace && $0 != "-" }
        guard code.count == 12 else { throw ValidationError(field: "code", code: "invalid_code", message: "the code has 12 characters") }
        let now = services.clock.now()
        let result = try await database.withTransaction { db -> OrganizationStore.LinkResult in
            guard let account = try await AccountStore.find(id: actor.accountID, on: db) else { throw ServiceError.unauthenticated }
            return try await OrganizationStore.redeemLinkCode(code, account: actor.accountID, displayName: account.displayName, now: now,
                                                               on: db)
        }
        switch result {
        case .linked(let child):
            return ChildView(child)
        case .invalidCode:
            throw ValidationError(field: "code", code: "invalid_code", message: "the code is wrong, used or expired")
        case .householdConflict:
            throw ServiceError.conflict("household_conflict",
                                        "this child is already looked after by another account; ask the school to merge your households")
        }
    }
}

import Foundation
import KairanCore
import KairanStore
import Synchronization
import Testing

/// An organization's write checks the caller's standing inside its own transaction, under a
/// share lock on the caller's staff row (`confirmOrganization`): a removal that commits
/// meanwhile cannot slip between the check and the write. Shown at the database: the removal
/// waits on that lock until the write commits.
@Suite struct OrganizationAccessLockTests {
    @Test func aStaffRemovalWaitsForAWriteThatConfirmedTheStaffMember() async throws {
        try await TestDatabase.withFreshDatabase { url in
            try await TestDatabase.withClient(url) { database in
                let now = Date()
                let (teacher, organization) = try await database.withTransaction { db in
                    let admin = try await AccountStore.insert(email: try EmailAddress("kocho@school.example.jp"), passwordHash: "-", displayName: "校長",
                                                              roles: [.resident], now: now, on: db)
                    let teacher = try await AccountStore.insert(email: try EmailAddress("tannin@school.example.jp"), passwordHash: "-",
                                                                displayName: "担任", roles: [.resident], now: now, on: db)
                    let organization = try await OrganizationStore.insert(kind: .school, name: "中央小学校", admin: admin.id, now: now,
                                                                          on: db)
                    _ = try await OrganizationStore.changeStaff(organization: organization.id, account: teacher.id, role: .staff, now: now,
                                                                on: db)
                    return (teacher.id, organization.id)
                }

                let (confirmedSignal, confirmed) = AsyncStream.makeStream(of: OrganizationRole?.self)
                let (releaseSignal, release) = AsyncStream.makeStream(of: Void.self)
                // The teacher's write: standing confirmed under the lock, commit held back.
                let write = Task {
                    try await database.withTransaction { db in
                        let standing = try await OrganizationStore.standing(organization: organization, account: teacher, lock: true,
                                                                            on: db)
                        confirmed.yield(standing?.1.role)
                        for await _ in releaseSignal { break }
                    }
                }
                var roles = confirmedSignal.makeAsyncIterator()
                #expect(await roles.next() == .some(.staff))

                // The admin removes the teacher meanwhile.
                let removalDone = Mutex(false)
                let removal = Task {
                    let removed = try await database.withTransaction { db in
                        try await OrganizationStore.removeStaff(organization: organization, account: teacher, on: db)
                    }
                    removalDone.withLock { $0 = true }
                    return removed
                }
                // The removal is seen waiting on a lock (not timed: PostgreSQL says so).
                var waiting = false
                for _ in 0..<200 where !waiting {
                    waiting = try await database.withConnection { db in
                        var found = false
                        for try await _ in try await db.query("""
                            SELECT 1 FROM pg_stat_activity
                            WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE 'DELETE FROM organization_staff%'
                            """).decode(Int.self) { found = true }
                        return found
                    }
                    if !waiting { try await Task.sleep(for: .milliseconds(25)) }
                }
                #expect(waiting, "the removal waits for the write that confirmed the teacher")
                #expect(!removalDone.withLock { $0 })

                release.yield()
                try await write.value
                #expect(try await removal.value, "and goes through once the write has committed")
            }
        }
    }
}

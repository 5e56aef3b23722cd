import Foundation
import KairanCore
import Testing

/// The pure parts of moderation and notices: who acts on a queue item, how much a flag
/// weighs, when quiet hours end.
@Suite struct ModerationPolicyTests {
    static let groupModerator = Actor(accountID: 1, roles: [.resident])
    static let townModerator = Actor(accountID: 2, roles: [.resident, .townModerator])
    static let member = Actor(accountID: 3, roles: [.resident])
    static let moderating = GroupStanding(visibility: .public, joinPolicy: .open, role: .moderator)
    static let membership = GroupStanding(visibility: .public, joinPolicy: .open, role: .member)

    @Test func theTownHasTheLastWordOnAnItem() {
        func decide(_ actor: Actor, townHandled: Bool = false, isAuthor: Bool = false, _ standing: GroupStanding = ModerationPolicyTests.moderating) -> Decision {
            Policy.decideModeration(actor, townHandled: townHandled, isAuthor: isAuthor, groupStanding: standing)
        }
        #expect(decide(Self.groupModerator) == .allow)
        #expect(decide(Self.groupModerator, townHandled: true) != .allow, "escalated, appealed or decided by the town")
        #expect(decide(Self.groupModerator, isAuthor: true) == .hidden, "not their own post")
        #expect(decide(Self.member, Self.membership) == .hidden, "members have no queue")
        #expect(decide(Self.townModerator, townHandled: true, isAuthor: true, Self.membership) == .allow)
        #expect(Policy.decideTownModeration(Self.groupModerator) != .allow)
        #expect(Policy.decideTownModeration(Self.townModerator) == .allow)
    }

    @Test func flagsWeighByStanding() {
        #expect(FlagWeight.weight(isNewAccount: false, upheld: 0, rejected: 0) == 1)
        #expect(FlagWeight.weight(isNewAccount: true, upheld: 0, rejected: 0) == 0.5)
        #expect(FlagWeight.weight(isNewAccount: false, upheld: 2, rejected: 0) == 1.5)
        #expect(FlagWeight.weight(isNewAccount: false, upheld: 20, rejected: 0) == 2, "capped")
        #expect(FlagWeight.weight(isNewAccount: true, upheld: 0, rejected: 9) == 0.25, "never nothing")
    }

    @Test func quietHoursEndAtTheirEndEvenAcrossMidnight() throws {
        let tokyo = try #require(TimeZone(identifier: "Asia/Tokyo"))
        func at(_ text: String) -> Date { ISO8601DateFormatter().date(from: text)! }
        // 21:00–07:00 Japan time.
        #expect(QuietHours.release(requested: at("2026-11-23T13:30:00Z"), start: 1260, end: 420, timeZone: tokyo) == at("2026-11-23T22:00:00Z"), "22:30 → 07:00 tomorrow")
        #expect(QuietHours.release(requested: at("2026-11-23T20:00:00Z"), start: 1260, end: 420, timeZone: tokyo) == at("2026-11-23T22:00:00Z"), "05:00 → 07:00 today")
        #expect(QuietHours.release(requested: at("2026-11-23T03:00:00Z"), start: 1260, end: 420, timeZone: tokyo) == at("2026-11-23T03:00:00Z"), "noon is not quiet")
        // 12:00–13:00 within one day.
        #expect(QuietHours.release(requested: at("2026-11-23T03:10:00Z"), start: 720, end: 780, timeZone: tokyo) == at("2026-11-23T04:00:00Z"))
        #expect(QuietHours.release(requested: at("2026-11-23T03:10:00Z"), start: nil, end: nil, timeZone: tokyo) == at("2026-11-23T03:10:00Z"))
    }
}

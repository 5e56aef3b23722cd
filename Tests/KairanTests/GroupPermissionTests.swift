import Foundation
import Hummingbird
import HummingbirdTesting
import KairanCore
import Testing

/// The permission matrix: member / non-member / banned / moderator / owner × public /
/// private group, for reading and for each kind of write, through the real routes.
@Suite struct GroupPermissionTests {
    enum Who: String, CaseIterable { case owner, moderator, member, nonMember, banned }

    /// Expected HTTP status per (who, action) for one visibility.
    static func expected(_ who: Who, _ action: String, visibility: String) -> HTTPResponse.Status {
        let hiddenToOutsiders = visibility == "private"
        switch (who, action) {
        case (.owner, "read"), (.moderator, "read"), (.member, "read"): return .ok
        case (.nonMember, "read"), (.banned, "read"): return hiddenToOutsiders ? .notFound : .ok
        case (.owner, "post"), (.moderator, "post"), (.member, "post"): return .created
        case (.owner, "moderate"), (.moderator, "moderate"): return .ok
        case (.owner, "administer"): return .ok
        case (.nonMember, _), (.banned, _): return hiddenToOutsiders ? .notFound : .forbidden
        default: return .forbidden
        }
    }

    @Test(arguments: ["public", "private"])
    func matrix(visibility: String) async throws {
        try await withApp { client, _ in
            var people: [Who: Resident] = [:]
            for who in Who.allCases { people[who] = try await client.resident("\(who.rawValue)@example.jp") }
            let owner = people[.owner]!
            let group = try await client.createGroup(by: owner, visibility: visibility, joinPolicy: "invite")
            for who in [Who.moderator, .member, .banned] {
                let invited = try await client.send(.post, "/v1/groups/\(group)/invitations", json: jsonObject(["accountId": people[who]!.id]), token: owner.token)
                #expect(invited.status == .noContent)
                #expect(try await client.send(.post, "/v1/groups/\(group)/join", token: people[who]!.token).status == .ok)
            }
            #expect(try await client.send(.put, "/v1/groups/\(group)/members/\(people[.moderator]!.id)/role", json: #"{"role":"moderator"}"#, token: owner.token).status == .noContent)
            #expect(try await client.send(.put, "/v1/groups/\(group)/bans/\(people[.banned]!.id)", json: #"{"reason":"荒らし"}"#, token: owner.token).status == .noContent)
            let (thread, post) = try await client.createThread(in: group, by: owner)

            for who in Who.allCases {
                let token = people[who]!.token
                let reads = [
                    try await client.send(.get, "/v1/groups/\(group)", token: token),
                    try await client.send(.get, "/v1/groups/\(group)/threads", token: token),
                    try await client.send(.get, "/v1/threads/\(thread)/posts", token: token),
                    try await client.send(.get, "/v1/groups/\(group)/search?q=遊具", token: token),
                ]
                for response in reads {
                    #expect(response.status == Self.expected(who, "read", visibility: visibility), "\(who) read \(visibility)")
                }
                let newThread = try await client.send(.post, "/v1/groups/\(group)/threads", json: #"{"title":"質問","body":"教えてください"}"#, token: token)
                #expect(newThread.status == Self.expected(who, "post", visibility: visibility), "\(who) thread \(visibility)")
                let reply = try await client.send(.post, "/v1/threads/\(thread)/posts", json: #"{"body":"ありがとう"}"#, token: token)
                #expect(reply.status == Self.expected(who, "post", visibility: visibility), "\(who) reply \(visibility)")
                let reaction = try await client.send(.put, "/v1/posts/\(post)/reactions/thanks", token: token)
                let reactionExpected = Self.expected(who, "post", visibility: visibility) == .created ? HTTPResponse.Status.noContent : Self.expected(who, "post", visibility: visibility)
                #expect(reaction.status == reactionExpected, "\(who) react \(visibility)")
                let pin = try await client.send(.patch, "/v1/threads/\(thread)", json: #"{"pinned":true}"#, token: token)
                #expect(pin.status == Self.expected(who, "moderate", visibility: visibility), "\(who) pin \(visibility)")
                let rename = try await client.send(.patch, "/v1/groups/\(group)", json: #"{"description":"更新"}"#, token: token)
                #expect(rename.status == Self.expected(who, "administer", visibility: visibility), "\(who) administer \(visibility)")
                for response in [newThread, reply, pin, rename] where response.status.code >= 400 {
                    _ = try response.errorCode()
                }
            }
        }
    }

    @Test func privateGroupsAreAbsentFromOutsidersLists() async throws {
        try await withApp { client, _ in
            let owner = try await client.resident("owner@example.jp")
            let outsider = try await client.resident("outsider@example.jp")
            let hidden = try await client.createGroup(by: owner, name: "役員会", visibility: "private", joinPolicy: "invite")
            let open = try await client.createGroup(by: owner, name: "公開サークル", kind: "community")
            let ids = try await client.send(.get, "/v1/groups", token: outsider.token).items().compactMap { $0["id"] as? Int }
            #expect(ids == [open])
            let ownerIDs = try await client.send(.get, "/v1/groups", token: owner.token).items().compactMap { $0["id"] as? Int }
            #expect(ownerIDs == [open, hidden], "newest first")
            // A private group answers exactly like a group that does not exist.
            let missing = try await client.send(.get, "/v1/groups/999999", token: outsider.token)
            let secret = try await client.send(.get, "/v1/groups/\(hidden)", token: outsider.token)
            #expect(secret.status == missing.status && secret.text == missing.text)
            #expect(try await client.send(.post, "/v1/groups/\(hidden)/join", token: outsider.token).status == .notFound)
        }
    }

    @Test func aModeratorCannotRemoveOrBanTheOwner() async throws {
        try await withApp { client, _ in
            let owner = try await client.resident("owner@example.jp")
            let moderator = try await client.resident("mod@example.jp")
            let group = try await client.createGroup(by: owner)
            #expect(try await client.send(.post, "/v1/groups/\(group)/join", token: moderator.token).status == .ok)
            #expect(try await client.send(.put, "/v1/groups/\(group)/members/\(moderator.id)/role", json: #"{"role":"moderator"}"#, token: owner.token).status == .noContent)
            #expect(try await client.send(.delete, "/v1/groups/\(group)/members/\(owner.id)", token: moderator.token).status == .forbidden)
            #expect(try await client.send(.put, "/v1/groups/\(group)/bans/\(owner.id)", token: moderator.token).status == .forbidden)
            #expect(try await client.send(.get, "/v1/groups/\(group)", token: owner.token).json()["myRole"] as? String == "owner")
        }
    }
}

import Foundation
import HummingbirdTesting
import Testing

@testable import KairanServer

/// Invitations, bans and join requests as the people they concern find them.
@Suite struct GroupInvitationTests {
    /// An invited resident is told, finds the invitation in their list, sees the private
    /// group's name (not its threads) and accepts by joining; the owner lists the pending
    /// invitations and withdraws one; a declined invitation is gone.
    @Test func anInviteeFindsTheInvitationAndAcceptsIt() async throws {
        try await withApp { client, _ in
            let owner = try await client.resident("owner@example.jp")
            let invitee = try await client.resident("invitee@example.jp")
            let other = try await client.resident("other@example.jp")
            let stranger = try await client.resident("stranger@example.jp")
            let group = try await client.createGroup(by: owner, name: "三丁目 見守り隊", visibility: "private", joinPolicy: "invite")
            let (thread, _) = try await client.createThread(in: group, by: owner)
            for person in [invitee, other] {
                #expect(try await client.send(.post, "/v1/groups/\(group)/invitations", json: jsonObject(["accountId": person.id]), token: owner.token).status == .noContent)
            }

            let notice = try #require(try await client.send(.get, "/v1/notifications", token: invitee.token).items().first { $0["kind"] as? String == "group.invited" })
            let data = try #require(notice["data"] as? [String: Any])
            #expect(data["groupId"] as? Int == group && data["groupName"] as? String == "三丁目 見守り隊")
            let mine = try await client.send(.get, "/v1/me/invitations", token: invitee.token).items()
            #expect(mine.map { $0["groupId"] as? Int } == [group] && mine.first?["groupName"] as? String == "三丁目 見守り隊")
            #expect(try await client.send(.get, "/v1/groups/\(group)", token: invitee.token).json()["name"] as? String == "三丁目 見守り隊",
                    "the invitee sees what they are invited to")
            #expect(try await client.send(.get, "/v1/threads/\(thread)", token: invitee.token).status == .notFound, "but not its threads")
            #expect(try await client.send(.get, "/v1/groups/\(group)", token: stranger.token).status == .notFound)
            #expect(try await client.send(.get, "/v1/me/invitations", token: stranger.token).items().isEmpty)

            let pending = try await client.send(.get, "/v1/groups/\(group)/invitations", token: owner.token).items()
            #expect(Set(pending.compactMap { $0["accountId"] as? Int }) == [invitee.id, other.id])
            #expect(try await client.send(.get, "/v1/groups/\(group)/invitations", token: invitee.token).status == .notFound)
            #expect(try await client.send(.delete, "/v1/groups/\(group)/invitations/\(other.id)", token: owner.token).status == .noContent)
            #expect(try await client.send(.delete, "/v1/groups/\(group)/invitations/\(other.id)", token: owner.token).status == .notFound)
            #expect(try await client.send(.post, "/v1/groups/\(group)/join", token: other.token).status == .notFound, "a withdrawn invitation opens nothing")
            #expect(try await client.send(.get, "/v1/me/invitations", token: other.token).items().isEmpty)
            #expect(try await client.send(.get, "/v1/notifications", token: other.token).items().isEmpty, "nor its notification")
            #expect(try await client.send(.get, "/v1/notifications", token: invitee.token).items().map { $0["kind"] as? String } == ["group.invited"])

            #expect(try await client.send(.post, "/v1/groups/\(group)/join", token: invitee.token).status == .ok)
            #expect(try await client.send(.get, "/v1/me/invitations", token: invitee.token).items().isEmpty, "accepted")
            #expect(try await client.send(.get, "/v1/threads/\(thread)", token: invitee.token).status == .ok)

            // Declining removes it.
            #expect(try await client.send(.post, "/v1/groups/\(group)/invitations", json: jsonObject(["accountId": stranger.id]), token: owner.token).status == .noContent)
            #expect(try await client.send(.delete, "/v1/me/invitations/\(group)", token: stranger.token).status == .noContent)
            #expect(try await client.send(.get, "/v1/groups/\(group)", token: stranger.token).status == .notFound)
            #expect(try await client.send(.delete, "/v1/me/invitations/\(group)", token: stranger.token).status == .notFound)
        }
    }

    /// A requester sees and can withdraw their own request; the owner lists the group's bans;
    /// a private group that approves its members is refused (nobody could find it to ask).
    @Test func requestersSeeTheirRequestsAndOwnersTheirBans() async throws {
        try await withApp { client, _ in
            let owner = try await client.resident("owner@example.jp")
            let requester = try await client.resident("requester@example.jp")
            let troll = try await client.resident("troll@example.jp")
            let group = try await client.createGroup(by: owner, name: "子育て相談室", joinPolicy: "approval")
            let asked = try await client.send(.post, "/v1/groups/\(group)/join", json: jsonObject(["message": "よろしくお願いします"]), token: requester.token)
            #expect(asked.status == .accepted)
            let requests = try await client.send(.get, "/v1/me/join-requests", token: requester.token).items()
            #expect(requests.count == 1)
            #expect(requests.first?["groupId"] as? Int == group && requests.first?["state"] as? String == "pending"
                    && requests.first?["groupName"] as? String == "子育て相談室" && requests.first?["message"] as? String == "よろしくお願いします")
            #expect(try await client.send(.delete, "/v1/me/join-requests/\(group)", token: requester.token).status == .noContent)
            #expect(try await client.send(.get, "/v1/me/join-requests", token: requester.token).items().isEmpty)
            #expect(try await client.send(.get, "/v1/groups/\(group)/join-requests", token: owner.token).items().isEmpty, "gone for the owner too")
            #expect(try await client.send(.delete, "/v1/me/join-requests/\(group)", token: requester.token).status == .notFound)

            #expect(try await client.send(.put, "/v1/groups/\(group)/bans/\(troll.id)", json: jsonObject(["reason": "荒らし行為"]), token: owner.token).status == .noContent)
            let bans = try await client.send(.get, "/v1/groups/\(group)/bans", token: owner.token).items()
            #expect(bans.count == 1 && bans.first?["accountId"] as? Int == troll.id && bans.first?["reason"] as? String == "荒らし行為")
            #expect(bans.first?["expiresAt"] == nil, "for good")
            #expect(try await client.send(.get, "/v1/groups/\(group)/bans", token: requester.token).status == .forbidden)
            #expect(try await client.send(.delete, "/v1/groups/\(group)/bans/\(troll.id)", token: owner.token).status == .noContent)
            #expect(try await client.send(.get, "/v1/groups/\(group)/bans", token: owner.token).items().isEmpty)

            let hidden = try await client.send(.post, "/v1/groups", json: jsonObject([
                "kind": "parenting", "name": "秘密の相談室", "visibility": "private", "joinPolicy": "approval",
            ]), token: owner.token)
            #expect(try hidden.errorCode() == "invalid_join_policy")
            let madePrivate = try await client.send(.patch, "/v1/groups/\(group)", json: jsonObject(["visibility": "private"]), token: owner.token)
            #expect(try madePrivate.errorCode() == "invalid_join_policy")
            #expect(try await client.send(.patch, "/v1/groups/\(group)", json: jsonObject(["visibility": "private", "joinPolicy": "invite"]), token: owner.token).status == .ok)
        }
    }
}

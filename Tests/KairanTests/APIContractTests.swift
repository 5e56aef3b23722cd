import Crypto
import Foundation
import HummingbirdTesting
import KairanAPIClient
import OpenAPIRuntime
import Testing

/// The API as `openapi.yaml` describes it: each test walks what a user does through the
/// client generated from the spec (scripts/generate-client). A status the spec does not list
/// for an operation, or a body that does not match its schema, fails the test — so a renamed
/// field, a new status code or a changed shape cannot pass unnoticed.
@Suite struct APIContractTests {
    @Test func theGeneratedClientIsTheSpecsCurrentOne() throws {
        let root = TestDatabase.repositoryRoot
        let spec = try Data(contentsOf: root.appendingPathComponent("openapi.yaml"))
        let recorded = try String(contentsOf: root.appendingPathComponent("Tests/KairanAPIClient/Generated/openapi.yaml.sha256"), encoding: .utf8)
        let digest = SHA256.hash(data: spec).map { String(format: "%02x", $0) }.joined()
        #expect(recorded.trimmingCharacters(in: .whitespacesAndNewlines) == digest,
                "openapi.yaml changed since the client was generated: run scripts/generate-client")
    }

    /// A resident's day in a 地区 group: sign up, start a group, a neighbour joins, they talk,
    /// react, edit, search, flag and read their notifications.
    @Test func aNeighbourhoodGroupThroughTheSpecsClient() async throws {
        try await withApp { client, _ in
            let anonymous = client.api()
            let owner = try await signUp(anonymous, "kaicho@example.jp", name: "自治会長")
            let neighbour = try await signUp(anonymous, "tonari@example.jp", name: "となり")
            let stranger = try await signUp(anonymous, "yoso@example.jp", name: "よそ")
            let asOwner = client.api(as: owner.token)
            let asNeighbour = client.api(as: neighbour.token)
            let asStranger = client.api(as: stranger.token)

            let me = try await asOwner.me().ok.body.json
            #expect(me.displayName == "自治会長" && me.id == owner.id)
            guard case .unauthorized = try await anonymous.me() else { Issue.record("no token must be 401"); return }

            let group = try await asOwner.createGroup(body: .json(.init(
                kind: .community, name: "三丁目自治会", description: "回覧板の代わりに", area: "三丁目", visibility: ._public, joinPolicy: .open)))
                .created.body.json
            #expect(group.myRole == .owner && group.memberCount == 1)
            // A private group is not there for strangers.
            let club = try await asOwner.createGroup(body: .json(.init(
                kind: .parenting, name: "三丁目子育てサークル", description: nil, area: nil, visibility: ._private, joinPolicy: .invite)))
                .created.body.json
            guard case .notFound(let hidden) = try await asStranger.getGroup(path: .init(groupID: club.id)) else {
                Issue.record("a private group must be 404 to strangers"); return
            }
            #expect(try hidden.body.json.error.code == "not_found")

            let joined = try await asNeighbour.joinGroup(path: .init(groupID: group.id), body: nil).ok.body.json
            #expect(joined.status == .member)
            let groups = try await asNeighbour.listGroups(query: .init(mine: true)).ok.body.json
            #expect(groups.items.map(\.id) == [group.id])
            #expect(try await asStranger.listGroups().ok.body.json.items.map(\.id) == [group.id], "the private group is not listed for strangers")

            let started = try await asOwner.createThread(path: .init(groupID: group.id), body: .json(.init(title: "ごみ当番", body: "来週の当番表です"))).created.body.json
            let reply = try await asNeighbour.createPost(path: .init(threadID: started.thread.id), body: .json(.init(body: "了解です @自治会長", replyTo: nil)))
                .created.body.json
            #expect(reply.author?.displayName == "となり" && reply.body == "了解です @自治会長")
            guard case .unprocessableContent(let empty) = try await asNeighbour.createPost(path: .init(threadID: started.thread.id), body: .json(.init(body: "  "))) else {
                Issue.record("an empty post must be 422"); return
            }
            #expect(try empty.body.json.error.field == "body")

            let edited = try await asNeighbour.editPost(path: .init(postID: reply.id), body: .json(.init(body: "了解しました @自治会長"))).ok.body.json
            #expect(edited.edited && edited.body == "了解しました @自治会長")
            let history = try await asNeighbour.listPostEdits(path: .init(postID: reply.id)).ok.body.json
            #expect(history.items.map(\.body) == ["了解です @自治会長"])
            _ = try await asOwner.addReaction(path: .init(postID: reply.id, reaction: .thanks)).noContent

            let posts = try await asOwner.listPosts(path: .init(threadID: started.thread.id)).ok.body.json
            #expect(posts.items.map(\.id).sorted() == [started.post.id, reply.id].sorted())
            #expect(posts.items.first { $0.id == reply.id }?.reactions.additionalProperties["thanks"] == 1)
            let threads = try await asNeighbour.listThreads(path: .init(groupID: group.id)).ok.body.json
            #expect(threads.items.map(\.title) == ["ごみ当番"])
            let found = try await asNeighbour.searchGroup(path: .init(groupID: group.id), query: .init(q: "当番")).ok.body.json
            #expect(found.items.map(\.id) == [started.post.id])
            // Whatever width and case were typed on either side.
            let notice = try await asOwner.createPost(path: .init(threadID: started.thread.id), body: .json(.init(body: "ＰＴＡ総会は参加率５０％でした。ﾊﾟﾊﾟも歓迎"))).created.body.json
            for query in ["pta", "PTA", "ＰＴＡ", "パパ", "ﾊﾟﾊﾟ", "50%", "５０％"] {
                let hits = try await asNeighbour.searchGroup(path: .init(groupID: group.id), query: .init(q: query)).ok.body.json.items.map(\.id)
                #expect(hits == [notice.id], "q=\(query)")
            }
            // A % or _ typed in the query is text, not a wildcard.
            #expect(try await asNeighbour.searchGroup(path: .init(groupID: group.id), query: .init(q: "5%で")).ok.body.json.items.isEmpty, "as a wildcard it would match 50%で")
            // The read marker comes back, so an app can open the thread at the first unread
            // post: the neighbour has read up to their own reply, not the owner's later post.
            let unread = try await asNeighbour.getThread(path: .init(threadID: started.thread.id)).ok.body.json
            #expect(unread.lastReadPostId == reply.id && unread.unreadCount == 1)
            _ = try await asNeighbour.markThreadRead(path: .init(threadID: started.thread.id), body: .json(.init(lastReadPostId: notice.id))).noContent
            let read = try await asNeighbour.listThreads(path: .init(groupID: group.id)).ok.body.json.items.first
            #expect(read?.lastReadPostId == notice.id && read?.unreadCount == 0)

            // The mention reached the owner.
            let notifications = try await asOwner.listNotifications().ok.body.json
            #expect(notifications.items.map(\.kind) == [.mention])

            let flag = try await asOwner.flagPost(path: .init(postID: reply.id), body: .json(.init(reason: .spam, note: nil))).created.body.json
            #expect(flag.outcome == .pending)
            guard case .conflict(let again) = try await asOwner.flagPost(path: .init(postID: reply.id), body: .json(.init(reason: .spam, note: nil))) else {
                Issue.record("flagging twice must be 409"); return
            }
            #expect(try again.body.json.error.code == "already_flagged")
            let myFlags = try await asOwner.listMyFlags().ok.body.json
            #expect(myFlags.items.map(\.postId) == [reply.id] && myFlags.nextBefore == nil)
            #expect(myFlags.items.first?.threadId == started.thread.id && myFlags.items.first?.excerpt == "了解しました @自治会長",
                    "the reporter can tell which post it was")
            // A page at a time: one flag more, then pages of one.
            let another = try await asNeighbour.createPost(path: .init(threadID: started.thread.id), body: .json(.init(body: "もう一件"))).created.body.json
            _ = try await asOwner.flagPost(path: .init(postID: another.id), body: .json(.init(reason: .spam))).created
            let first = try await asOwner.listMyFlags(query: .init(limit: 1)).ok.body.json
            let second = try await asOwner.listMyFlags(query: .init(before: first.nextBefore, limit: 1)).ok.body.json
            #expect(first.items.map(\.postId) == [another.id] && second.items.map(\.postId) == [reply.id])

            _ = try await asNeighbour.deletePost(path: .init(postID: reply.id)).noContent
            _ = try await asNeighbour.leaveGroup(path: .init(groupID: group.id)).noContent
            guard case .conflict(let last) = try await asOwner.leaveGroup(path: .init(groupID: group.id)) else {
                Issue.record("the last owner leaving must be 409"); return
            }
            #expect(try last.body.json.error.code == "last_owner")
        }
    }

    /// A school's notice, from the town office registering the school to a guardian's
    /// answer on the dashboard, and an absence report the class teacher acknowledges.
    @Test func aSchoolNoticeThroughTheSpecsClient() async throws {
        try await withApp { client, url in
            let anonymous = client.api()
            let townAdmin = try await signUp(anonymous, "soumu@town.example.jp", name: "総務課")
            try await grantRole("town_admin", to: "soumu@town.example.jp", in: url)
            let principal = try await signUp(anonymous, "kocho@school.example.jp", name: "校長")
            let teacher = try await signUp(anonymous, "tannin@school.example.jp", name: "担任")
            let parent = try await signUp(anonymous, "hogosha@example.jp", name: "保護者")
            let asTown = client.api(as: townAdmin.token)
            let asPrincipal = client.api(as: principal.token)
            let asTeacher = client.api(as: teacher.token)
            let asParent = client.api(as: parent.token)

            let school = try await asTown.createOrganization(body: .json(.init(kind: .school, name: "町立第一小学校", adminAccountId: principal.id)))
                .created.body.json
            let org = school.id
            _ = try await asPrincipal.setOrganizationStaff(path: .init(organizationID: org, accountID: teacher.id), body: .json(.init(role: .staff)))
                .noContent
            // Administrators first, whatever order they joined in.
            let staff = try await asPrincipal.listOrganizationStaff(path: .init(organizationID: org)).ok.body.json.items
            #expect(staff.map(\.role) == [.orgAdmin, .staff] && staff.first?.accountId == principal.id)
            let classroom = try await asPrincipal.createClass(path: .init(organizationID: org), body: .json(.init(name: "1-1", grade: 1))).created.body.json
            _ = try await asPrincipal.addClassTeacher(path: .init(organizationID: org, classID: classroom.id, accountID: teacher.id)).noContent
            guard case .forbidden = try await asTeacher.createClass(path: .init(organizationID: org), body: .json(.init(name: "1-2", grade: 1))) else {
                Issue.record("staff must not create classes"); return
            }
            guard case .notFound = try await asParent.getOrganization(path: .init(organizationID: org)) else {
                Issue.record("a school is 404 to a guardian who is not staff"); return
            }

            let child = try await asTeacher.createChild(path: .init(organizationID: org), body: .json(.init(name: "山田 花子", classId: classroom.id)))
                .created.body.json
            let code = try await asTeacher.createLinkCode(path: .init(organizationID: org, childID: child.id)).created.body.json
            let linked = try await asParent.linkChild(body: .json(.init(code: code.code))).created.body.json
            #expect(linked.id == child.id && linked.organizationName == "町立第一小学校")
            #expect(try await asParent.listMyChildren().ok.body.json.items.map(\.name) == ["山田 花子"])

            // A class nobody is enrolled in reaches nobody: refused, naming it; with a class
            // that does reach families, created with a warning.
            let empty = try await asPrincipal.createClass(path: .init(organizationID: org), body: .json(.init(name: "2-1", grade: 2))).created.body.json
            guard case .unprocessableContent(let nobody) = try await asTeacher.createNotice(path: .init(organizationID: org), body: .json(.init(
                title: "連絡", body: "本文", targets: .init(classes: [empty.id])))) else {
                Issue.record("a notice that reaches nobody must be 422"); return
            }
            #expect(try nobody.body.json.error.code == "empty_targets" && nobody.body.json.error.message.contains("クラス（番号 \(empty.id)）"))

            let notice = try await asTeacher.createNotice(path: .init(organizationID: org), body: .json(.init(
                title: "遠足の持ち物", body: "お弁当と水筒をお持たせください。", urgent: true,
                targets: .init(classes: [classroom.id, empty.id]),
                form: .init(kind: .single, question: "参加しますか", options: ["参加", "欠席"]))))
                .created.body.json
            #expect(notice.state == .sent)
            #expect(notice.emptyTargets?.map(\.id) == [empty.id] && notice.emptyTargets?.first?.kind == ._class)

            let mine = try await asParent.listMyNotices().ok.body.json
            #expect(mine.items.map(\.title) == ["遠足の持ち物"])
            let opened = try await asParent.getMyNotice(path: .init(noticeID: notice.id)).ok.body.json
            #expect(opened.openedAt != nil && opened.confirmedAt == nil && opened.children?.map(\.childName) == ["山田 花子"])
            let answered = try await asParent.answerMyNotice(path: .init(noticeID: notice.id, childID: child.id), body: .json(.init(choices: [0])))
                .ok.body.json
            #expect(answered.children?.first?.choices == [0])
            guard case .unprocessableContent = try await asParent.answerMyNotice(path: .init(noticeID: notice.id, childID: child.id),
                                                                                 body: .json(.init(choices: [0, 1]))) else {
                Issue.record("two choices on a single-choice form must be 422"); return
            }
            // A class teacher's view: each row names the child's class; another class's view
            // has none of this household.
            let waiting = try await asTeacher.getNoticeStatus(path: .init(organizationID: org, noticeID: notice.id), query: .init(classId: classroom.id))
                .ok.body.json
            #expect(waiting.counts.households == 1 && waiting.unconfirmed.map(\.classes) == [["1-1"]] && waiting.unconfirmed.map(\.children) == [["山田 花子"]])
            let elsewhere = try await asTeacher.getNoticeStatus(path: .init(organizationID: org, noticeID: notice.id), query: .init(classId: empty.id))
                .ok.body.json
            #expect(elsewhere.counts.households == 0 && elsewhere.unconfirmed.isEmpty)
            #expect(try await asTeacher.getNoticeCallList(path: .init(organizationID: org, noticeID: notice.id), query: .init(classId: empty.id))
                .ok.body.json.items.isEmpty)
            let confirmed = try await asParent.confirmMyNotice(path: .init(noticeID: notice.id)).ok.body.json
            #expect(confirmed.confirmedAt != nil)

            let status = try await asTeacher.getNoticeStatus(path: .init(organizationID: org, noticeID: notice.id)).ok.body.json
            #expect(status.counts.confirmedHouseholds == 1 && status.unconfirmed.isEmpty)
            #expect(try await asTeacher.getNoticeCallList(path: .init(organizationID: org, noticeID: notice.id)).ok.body.json.items.isEmpty)
            let answers = try await asTeacher.getNoticeAnswers(path: .init(organizationID: org, noticeID: notice.id)).ok.body.json
            #expect(answers.tallies.map(\.count) == [1, 0] && answers.answered == 1)

            let absence = try await asParent.reportAbsence(path: .init(childID: child.id), body: .json(.init(
                kind: .absent, day: "2026-12-01", reason: "体調不良", note: "熱があります"))).created.body.json
            let inbox = try await asTeacher.listAbsences(path: .init(organizationID: org)).ok.body.json
            #expect(inbox.items.map(\.id) == [absence.id])
            let seen = try await asTeacher.acknowledgeAbsence(path: .init(organizationID: org, absenceID: absence.id)).ok.body.json
            #expect(seen.acknowledgedAt != nil)
        }
    }

    /// Town staff send a 防災メール: categories and areas, a resident registered at the
    /// counter, the alert itself (once, whatever the retries), its progress and the record.
    @Test func anAlertThroughTheSpecsClient() async throws {
        try await withApp { client, url in
            let anonymous = client.api()
            let admin = try await signUp(anonymous, "bousai@town.example.jp", name: "防災係")
            try await grantRole("town_admin", to: "bousai@town.example.jp", in: url)
            try await grantRole("alert_sender", to: "bousai@town.example.jp", in: url)
            let resident = try await signUp(anonymous, "jumin@example.jp", name: "住民")
            let asStaff = client.api(as: admin.token)
            let asResident = client.api(as: resident.token)

            let categories = try await asStaff.listAlertCategories().ok.body.json.items
            #expect(categories.first { $0.code == "disaster" }?.mandatory == true)
            let area = try await asStaff.putAlertArea(path: .init(code: "sanchome"), body: .json(.init(name: "三丁目", position: 3))).ok.body.json
            #expect(area.name == "三丁目" && !area.archived)
            guard case .unprocessableContent(let nameless) = try await asStaff.putAlertArea(path: .init(code: "yonchome"), body: .json(.init(position: 4))) else {
                Issue.record("a new area without a name must be 422"); return
            }
            #expect(try nameless.body.json.error.code == "required")
            // Absent fields keep their value: a partial change of an existing category or area.
            let moved = try await asStaff.putAlertCategory(path: .init(code: "crime"), body: .json(.init(position: 7))).ok.body.json
            #expect(moved.name == "防犯" && moved.position == 7 && !moved.mandatory)
            #expect(try await asStaff.putAlertCategory(path: .init(code: "crime"), body: .json(.init(mandatory: true))).ok.body.json.position == 7)
            let archived = try await asStaff.putAlertCategory(path: .init(code: "town"), body: .json(.init(archived: true))).ok.body.json
            #expect(archived.name == "行政" && archived.archived)
            let renumbered = try await asStaff.putAlertArea(path: .init(code: "sanchome"), body: .json(.init(position: 9))).ok.body.json
            #expect(renumbered.name == "三丁目" && renumbered.position == 9)

            let subscriber = try await asStaff.createAlertSubscriber(body: .json(.init(email: "taro@docomo.ne.jp", areas: ["sanchome"]))).created.body.json
            #expect(subscriber.status == .active && subscriber.areas == ["sanchome"])
            // A carrier address gets the carriers' charset, as one registered by 空メール does.
            #expect(subscriber.charset == .iso2022Jp)
            let smartphone = try await asStaff.createAlertSubscriber(body: .json(.init(email: "hanako@gmail.com"))).created.body.json
            #expect(smartphone.charset == .utf8)
            guard case .forbidden = try await asResident.createAlertSubscriber(body: .json(.init(email: "other@example.jp"))) else {
                Issue.record("residents must not register subscribers"); return
            }

            let draft = Components.Schemas.CreateAlert(category: "disaster", areas: ["sanchome"], urgent: true, subject: "避難指示", body: "三丁目に避難指示が出ました。")
            let sent = try await asStaff.createAlert(headers: .init(idempotencyKey: "evac-1"), body: .json(draft)).created.body.json
            // The carrier subscriber in 三丁目, and the smartphone one who chose no area (all).
            #expect(sent.recipients == 2 && sent.subject == "【防災】避難指示")
            // A retry of the same request (a dropped connection) is the same alert, not a second one.
            let retried = try await asStaff.createAlert(headers: .init(idempotencyKey: "evac-1"), body: .json(draft)).ok.body.json
            #expect(retried.id == sent.id)
            #expect(try await asStaff.listAlerts().ok.body.json.items.map(\.id) == [sent.id])
            let progress = try await asStaff.getAlert(path: .init(alertID: sent.id)).ok.body.json
            #expect(progress.progress.queued + progress.progress.sent + progress.progress.sending == 2)
            guard case .forbidden = try await asResident.getAlert(path: .init(alertID: sent.id)) else {
                Issue.record("residents must not read alerts' progress"); return
            }
            _ = try await asStaff.unsubscribeAlertSubscriber(path: .init(subscriberID: subscriber.id)).noContent
            let subscribers = try await asStaff.listAlertSubscribers(query: .init(status: .unsubscribed)).ok.body.json
            #expect(subscribers.items.map(\.id) == [subscriber.id])
        }
    }

    struct SignedUp {
        let id: Int64
        let token: String
    }

    func signUp(_ api: Client, _ email: String, name: String) async throws -> SignedUp {
        let account = try await api.createAccount(body: .json(.init(email: email, password: "correct horse battery", displayName: name))).created.body.json
        let session = try await api.createSession(body: .json(.init(email: email, password: "correct horse battery"))).created.body.json
        return SignedUp(id: account.id, token: session.token)
    }
}

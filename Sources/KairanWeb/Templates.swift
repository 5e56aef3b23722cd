/// The page templates (Mustache; `{{x}}` is HTML-escaped, `{{{x}}}` is not and is used only
/// for HTML the server rendered itself). Kept in the source so the binary is the whole site.
enum Templates {
    static let all: [String: String] = [
        "layout": layout, "error": error, "home": home, "login": login, "signup": signup,
        "groups": groups, "group-new": groupNew, "group": group, "event": event, "event-new": eventNew, "thread": thread, "posts": posts,
        "post-edit": postEdit, "post-flag": postFlag, "search": search, "me": me,
        "admin": admin, "staff": staff, "group-members": groupMembers,
        "classes": classes, "roster-children": rosterChildren, "roster-child": rosterChild,
        "notices": notices, "notice": notice, "children": children, "absences": absences, "absence-inbox": absenceInbox,
        "schools": schools, "school": school, "notice-compose": noticeCompose, "school-notice": schoolNotice, "notice-call-list": noticeCallList,
        "notice-lists": noticeLists, "notice-list": noticeList, "list-picker": listPicker,
        "alerts": alerts, "alert-compose": alertCompose, "alert": alert, "alert-public": alertPublic, "alert-subscribers": alertSubscribers, "alert-settings": alertSettings,
        "moderation": moderation, "moderation-item": moderationItem, "watched-words": watchedWords, "moderation-log": moderationLog, "suspensions": suspensions,
    ]

    static let layout = """
        <!DOCTYPE html>
        <html lang="ja">
        <head>
        <meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <meta name="referrer" content="same-origin">
        <meta name="csrf-token" content="{{csrf}}">
        <title>{{title}} | 回覧板</title>
        <link rel="icon" href="data:,">
        <link rel="stylesheet" href="/static/kairan.css?v={{assetVersion}}">
        <script type="module" src="/static/kairan.js?v={{assetVersion}}"></script>
        </head>
        <body>
        <a class="skip" href="#main">本文へ移動</a>
        <header class="site">
        <p class="brand"><a href="/">回覧板</a></p>
        <nav aria-label="メインメニュー">
        <ul>
        <li><a href="/">ホーム</a></li>
        <li><a href="/groups">グループ</a></li>
        {{#user}}
        <li><a href="/notices">学校・園からのお知らせ</a></li>
        {{#user.staff}}<li><a href="/schools">学校・園の職員ページ</a></li>{{/user.staff}}
        {{#user.moderator}}<li><a href="/moderation">モデレーション</a></li>{{/user.moderator}}
        {{#user.townStaff}}<li><a href="/alerts">防災・防犯メール</a></li>{{/user.townStaff}}
        {{#user.townAdmin}}<li><a href="/admin">町の管理</a></li>{{/user.townAdmin}}
        <li><a href="/me">マイページ</a></li>
        <li><form method="post" action="/logout"><input type="hidden" name="csrf" value="{{csrf}}"><button type="submit" class="link">ログアウト</button></form></li>
        {{/user}}
        {{^user}}
        <li><a href="/login">ログイン</a></li>
        <li><a href="/signup">新規登録</a></li>
        {{/user}}
        </ul>
        </nav>
        </header>
        <main id="main" tabindex="-1"{{#liveStreams}} data-live-streams="{{liveStreams}}"{{/liveStreams}}>
        {{#notice}}<p class="notice" role="status">{{notice}}</p>{{/notice}}
        {{{main}}}
        {{#liveStreams}}
        <p class="live-status" data-live-status>
        <a href="{{path}}">最新の状態に更新</a>
        </p>
        {{/liveStreams}}
        </main>
        <footer class="site">
        <p>{{#user}}{{name}} さんでログイン中 · {{/user}}回覧板 — まちの地域SNS</p>
        </footer>
        </body>
        </html>
        """

    static let error = """
        <h1>{{heading}}</h1>
        <p role="alert">{{message}}</p>
        <p><a href="{{back}}">戻る</a></p>
        """

    static let formErrors = """
        {{^empty(errors)}}
        <div class="errors" role="alert">
        <p><strong>入力内容を確認してください</strong></p>
        <ul>{{#errors}}<li>{{.}}</li>{{/errors}}</ul>
        </div>
        {{/empty(errors)}}
        """

    static let home = """
        <h1>回覧板へようこそ</h1>
        {{^signedIn}}
        <p>地区の話題、子育ての相談、学校や園からのお知らせを、まちのみんなで回覧する場所です。</p>
        <p class="actions"><a class="button" href="/login">ログイン</a> <a class="button secondary" href="/signup">新規登録</a></p>
        {{/signedIn}}
        {{#signedIn}}
        <section aria-labelledby="my-groups">
        <h2 id="my-groups">参加中のグループ</h2>
        {{^empty(groups)}}
        <ul class="cards">
        {{#groups}}<li><a href="/groups/{{id}}">{{name}}</a>{{#unread}} <span class="badge">未読 {{unread}} 件</span>{{/unread}}</li>{{/groups}}
        </ul>
        {{/empty(groups)}}
        {{#empty(groups)}}<p>まだどのグループにも参加していません。</p>{{/empty(groups)}}
        <p><a href="/groups">グループを探す</a></p>
        </section>
        {{/signedIn}}
        """

    static let login = """
        <h1>ログイン</h1>
        \(formErrors)
        <form method="post" action="/login" class="stack">
        <input type="hidden" name="csrf" value="{{csrf}}">
        <input type="hidden" name="next" value="{{next}}">
        <p><label for="email">メールアドレス</label>
        <input id="email" name="email" type="email" autocomplete="username" required maxlength="254" value="{{email}}"></p>
        <p><label for="password">パスワード</label>
        <input id="password" name="password" type="password" autocomplete="current-password" required maxlength="72"></p>
        <p><button type="submit">ログイン</button></p>
        </form>
        <p>はじめての方は <a href="/signup">新規登録</a></p>
        """

    static let signup = """
        <h1>新規登録</h1>
        \(formErrors)
        <form method="post" action="/signup" class="stack">
        <input type="hidden" name="csrf" value="{{csrf}}">
        <p><label for="name">表示名</label>
        <input id="name" name="displayName" autocomplete="nickname" required maxlength="50" value="{{displayName}}" aria-describedby="name-hint">
        <span class="hint" id="name-hint">ほかの住民に表示される名前です（50文字まで）。</span></p>
        <p><label for="email">メールアドレス</label>
        <input id="email" name="email" type="email" autocomplete="email" required maxlength="254" value="{{email}}"></p>
        <p><label for="password">パスワード</label>
        <input id="password" name="password" type="password" autocomplete="new-password" required minlength="8" maxlength="72" aria-describedby="password-hint">
        <span class="hint" id="password-hint">8文字以上。</span></p>
        <p><button type="submit">登録する</button></p>
        </form>
        """

    static let groups = """
        <h1>グループ</h1>
        <form method="get" action="/groups" class="filters" role="search" aria-label="グループの絞り込み">
        <p><label for="kind">種類</label>
        <select id="kind" name="kind">
        <option value=""{{^kind}} selected{{/kind}}>すべて</option>
        <option value="community"{{#isCommunity}} selected{{/isCommunity}}>地域</option>
        <option value="parenting"{{#isParenting}} selected{{/isParenting}}>子育て</option>
        </select></p>
        <p><label for="area">地区</label>
        <input id="area" name="area" maxlength="40" value="{{areaFilter}}"></p>
        <p><button type="submit">絞り込む</button></p>
        </form>
        {{^empty(items)}}
        <ul class="cards">
        {{#items}}
        <li>
        <h2><a href="/groups/{{id}}">{{name}}</a></h2>
        <p class="meta">{{kindLabel}}{{#area}} · {{area}}{{/area}} · {{joinLabel}}{{#member}} · <strong>参加中</strong>{{/member}}</p>
        {{#description}}<p>{{description}}</p>{{/description}}
        </li>
        {{/items}}
        </ul>
        {{/empty(items)}}
        {{#empty(items)}}<p>該当するグループはありません。</p>{{/empty(items)}}
        {{#next}}<p><a href="{{next}}">次のページ</a></p>{{/next}}
        {{#signedIn}}<p><a class="button secondary" href="/groups/new">グループを作る</a></p>{{/signedIn}}
        """

    static let groupNew = """
        <h1>グループを作る</h1>
        \(formErrors)
        <form method="post" action="/groups" class="stack">
        <input type="hidden" name="csrf" value="{{csrf}}">
        <p><label for="name">グループ名</label>
        <input id="name" name="name" required maxlength="80" value="{{name}}"></p>
        <p><label for="description">説明</label>
        <textarea id="description" name="description" rows="4" maxlength="2000">{{description}}</textarea></p>
        <fieldset><legend>種類</legend>
        <p><input type="radio" id="kind-community" name="kind" value="community"{{^parenting}} checked{{/parenting}}> <label for="kind-community">地域（地区・自治会など）</label></p>
        <p><input type="radio" id="kind-parenting" name="kind" value="parenting"{{#parenting}} checked{{/parenting}}> <label for="kind-parenting">子育て</label></p>
        </fieldset>
        <p><label for="area">地区（任意）</label>
        <input id="area" name="area" maxlength="40" value="{{area}}"></p>
        <fieldset><legend>参加のしかた</legend>
        <p><input type="radio" id="join-open" name="joinPolicy" value="open" checked> <label for="join-open">だれでも参加できる</label></p>
        <p><input type="radio" id="join-approval" name="joinPolicy" value="approval"> <label for="join-approval">管理者の承認が必要</label></p>
        </fieldset>
        <p><button type="submit">作成する</button></p>
        </form>
        """

    static let group = """
        <h1>{{group.name}}</h1>
        <p class="meta">{{kindLabel}}{{#group.area}} · {{group.area}}{{/group.area}}{{#group.memberCount}} · メンバー {{group.memberCount}} 人{{/group.memberCount}}</p>
        {{#description}}<p>{{description}}</p>{{/description}}
        <div class="actions">
        {{#canJoin}}
        <form method="post" action="/groups/{{group.id}}/join"><input type="hidden" name="csrf" value="{{csrf}}">
        <button type="submit">{{joinButton}}</button></form>
        {{/canJoin}}
        {{#invited}}
        <form method="post" action="/groups/{{group.id}}/decline"><input type="hidden" name="csrf" value="{{csrf}}">
        <button type="submit" class="secondary">招待を断る</button></form>
        {{/invited}}
        {{#member}}
        <form method="post" action="/groups/{{group.id}}/leave"><input type="hidden" name="csrf" value="{{csrf}}">
        <button type="submit" class="secondary">グループを退会する</button></form>
        {{/member}}
        </div>
        {{#invited}}<p>このグループに招待されています。参加すると、スレッドを読んだり書いたりできます。</p>{{/invited}}
        {{#member}}<p><a href="/groups/{{group.id}}/members">メンバー{{#moderates}}・参加の申し込み・招待{{/moderates}}</a></p>{{/member}}
        {{#moderates}}<p><a href="/moderation">このグループの通報を確認する（モデレーション）</a></p>{{/moderates}}
        <form method="get" action="/groups/{{group.id}}/search" role="search" class="inline">
        <p><label for="q">このグループ内を検索</label>
        <input id="q" name="q" type="search" maxlength="100" required>
        <button type="submit">検索</button></p>
        </form>
        {{^invited}}
        <section aria-labelledby="events-heading">
        <h2 id="events-heading">行事</h2>
        <div id="events">
        {{^empty(events)}}
        <ul class="cards">
        {{#events}}
        <li><a href="/events/{{id}}">{{#cancelled}}<span class="tag urgent-tag">中止</span> {{/cancelled}}{{title}}</a>
        <p class="meta"><time datetime="{{startISO}}">{{when}}</time> · {{place}} · 参加 {{going}} 人{{#myAnswer}} · あなた: {{myAnswer}}{{/myAnswer}}</p></li>
        {{/events}}
        </ul>
        {{/empty(events)}}
        {{#empty(events)}}<p>予定されている行事はありません。</p>{{/empty(events)}}
        {{#moderates}}<p><a href="/groups/{{group.id}}/events/new">行事を作る</a></p>{{/moderates}}
        </div>
        </section>
        {{/invited}}
        <section aria-labelledby="threads-heading">
        <h2 id="threads-heading">スレッド</h2>
        <div id="threads" data-live-region>
        {{^empty(threads)}}
        <ul class="cards">
        {{#threads}}
        <li><a href="/threads/{{id}}">{{#pinned}}<span class="tag">固定</span> {{/pinned}}{{title}}</a>
        <p class="meta">投稿 {{postCount}} 件 · 最終投稿 <time datetime="{{lastPostISO}}">{{lastPost}}</time>{{#unread}} · <strong>未読 {{unread}} 件</strong>{{/unread}}{{#locked}} · 締め切り{{/locked}}</p></li>
        {{/threads}}
        </ul>
        {{/empty(threads)}}
        {{#empty(threads)}}<p>まだスレッドはありません。</p>{{/empty(threads)}}
        {{#next}}<p><a href="{{next}}">古いスレッド</a></p>{{/next}}
        </div>
        </section>
        {{#member}}
        <section aria-labelledby="new-thread">
        <h2 id="new-thread">新しいスレッド</h2>
        \(formErrors)
        <form method="post" action="/groups/{{group.id}}/threads" class="stack">
        <input type="hidden" name="csrf" value="{{csrf}}">
        <p><label for="title">タイトル</label>
        <input id="title" name="title" required maxlength="100" value="{{title}}"></p>
        <p><label for="body">本文</label>
        <textarea id="body" name="body" rows="5" required maxlength="5000">{{body}}</textarea></p>
        \(postFilePicker)
        <p><button type="submit">投稿する</button></p>
        </form>
        </section>
        {{/member}}
        """

    static let event = """
        <nav class="crumbs" aria-label="パンくずリスト"><a href="/groups/{{event.groupId}}">{{event.groupName}}</a></nav>
        <h1>{{#event.cancelled}}<span class="tag urgent-tag">中止</span> {{/event.cancelled}}{{event.title}}</h1>
        {{#event.cancelled}}<p class="warning"><strong>この行事は中止になりました。</strong>{{#event.cancelReason}} 理由: {{event.cancelReason}}{{/event.cancelReason}}</p>{{/event.cancelled}}
        <dl class="profile">
        <dt>日時</dt><dd><time datetime="{{startISO}}">{{when}}</time></dd>
        <dt>場所</dt><dd>{{event.place}}</dd>
        {{#event.capacity}}<dt>定員</dt><dd>{{event.capacity}} 人（残り {{event.remaining}} 人）</dd>{{/event.capacity}}
        {{#deadline}}<dt>出欠の締め切り</dt><dd>{{deadline}}</dd>{{/deadline}}
        {{#organizer}}<dt>主催</dt><dd>{{organizer}}</dd>{{/organizer}}
        <dt>出欠</dt><dd id="event-counts">参加 {{event.counts.going}} 人 · 未定 {{event.counts.maybe}} 人 · 不参加 {{event.counts.notGoing}} 件</dd>
        </dl>
        <div class="body">{{#paragraphs}}<p>{{.}}</p>{{/paragraphs}}</div>
        <p><a href="/events/{{event.id}}/calendar.ics">カレンダーに追加（.ics ファイル）</a></p>
        {{#canAnswer}}
        <section aria-labelledby="answer-heading">
        <h2 id="answer-heading">出欠を答える</h2>
        \(formErrors)
        <form method="post" action="/events/{{event.id}}/answer" class="stack">
        <input type="hidden" name="csrf" value="{{csrf}}">
        <fieldset><legend>出欠</legend>
        {{#choices}}<p><input type="radio" id="answer-{{value}}" name="answer" value="{{value}}"{{#checked}} checked{{/checked}} required> <label for="answer-{{value}}">{{label}}</label></p>{{/choices}}
        </fieldset>
        <p><label for="head-count">人数（ご本人を含む。参加・未定のとき）</label><input id="head-count" name="headCount" type="number" min="1" max="20" value="{{headCount}}"></p>
        <p><label for="comment">主催者へのひとこと（任意。主催者だけが見られます）</label><input id="comment" name="comment" maxlength="200" value="{{comment}}"></p>
        <p><input type="checkbox" id="remind-by-mail" name="remindByMail" value="1"{{#remindByMail}} checked{{/remindByMail}}> <label for="remind-by-mail">前日のお知らせと、変更・中止の連絡をメールでも受け取る</label></p>
        <p><button type="submit">{{answerButton}}</button></p>
        </form>
        </section>
        {{/canAnswer}}
        {{^canAnswer}}\(formErrors){{/canAnswer}}
        {{#closedNote}}<p>{{closedNote}}</p>{{/closedNote}}
        {{#event.canManage}}
        <section aria-labelledby="answers-heading">
        <h2 id="answers-heading">回答の一覧（主催者・モデレーターのみ）</h2>
        {{^empty(answers)}}
        <table>
        <thead><tr><th scope="col">名前</th><th scope="col">回答</th><th scope="col">人数</th><th scope="col">コメント</th></tr></thead>
        <tbody>
        {{#answers}}<tr><td>{{name}}</td><td>{{label}}</td><td>{{headCount}}</td><td>{{comment}}</td></tr>{{/answers}}
        </tbody>
        </table>
        {{/empty(answers)}}
        {{#empty(answers)}}<p>まだ回答はありません。</p>{{/empty(answers)}}
        <p><a href="/events/{{event.id}}/answers.csv">回答を CSV ファイルで保存する</a></p>
        {{#canEdit}}<p><a href="/events/{{event.id}}/edit">行事の内容・日時を変更する</a></p>{{/canEdit}}
        {{^event.cancelled}}
        <form method="post" action="/events/{{event.id}}/cancel" class="stack">
        <input type="hidden" name="csrf" value="{{csrf}}">
        <p><label for="cancel-reason">中止の理由（回答した全員に届きます）</label><input id="cancel-reason" name="reason" maxlength="500"></p>
        <p><button type="submit" class="secondary">この行事を中止する</button></p>
        </form>
        {{/event.cancelled}}
        </section>
        {{/event.canManage}}
        """

    static let eventNew = """
        <nav class="crumbs" aria-label="パンくずリスト"><a href="/groups/{{groupId}}">{{groupName}}</a></nav>
        <h1>{{heading}}</h1>
        \(formErrors)
        <form method="post" action="{{action}}" class="stack">
        <input type="hidden" name="csrf" value="{{csrf}}">
        <p><label for="title">行事の名前</label><input id="title" name="title" required maxlength="100" value="{{title}}"></p>
        <p><label for="place">場所</label><input id="place" name="place" required maxlength="200" value="{{place}}"></p>
        <p><label for="starts-at">開始日時</label><input id="starts-at" name="startsAt" type="datetime-local" required value="{{startsAt}}"></p>
        <p><label for="ends-at">終了日時</label><input id="ends-at" name="endsAt" type="datetime-local" required value="{{endsAt}}"></p>
        <p><label for="capacity">定員（人数。空欄なら定員なし）</label><input id="capacity" name="capacity" type="number" min="1" max="100000" value="{{capacity}}"></p>
        <p><label for="answer-deadline">出欠の締め切り（空欄なら開始まで）</label><input id="answer-deadline" name="answerDeadline" type="datetime-local" value="{{answerDeadline}}"></p>
        <p><label for="description">内容・持ち物など</label><textarea id="description" name="description" rows="6" maxlength="5000">{{description}}</textarea></p>
        <p>{{note}}</p>
        <p><button type="submit">{{button}}</button></p>
        </form>
        """

    static let thread = """
        <nav class="crumbs" aria-label="パンくずリスト"><a href="/groups/{{groupId}}">{{groupName}}</a></nav>
        <h1>{{thread.title}}</h1>
        {{#thread.locked}}<p class="meta">このスレッドは締め切られています。</p>{{/thread.locked}}
        {{#older}}<p><a href="{{older}}">以前の投稿</a></p>{{/older}}
        <div id="posts" data-live-region>
        {{> posts}}
        </div>
        {{#canReply}}
        <section aria-labelledby="reply-heading">
        <h2 id="reply-heading">返信する</h2>
        \(formErrors)
        <form method="post" action="/threads/{{thread.id}}/posts" class="stack">
        <input type="hidden" name="csrf" value="{{csrf}}">
        <p><label for="body">本文</label>
        <textarea id="body" name="body" rows="4" required maxlength="5000">{{body}}</textarea></p>
        \(postFilePicker)
        <p><button type="submit">返信する</button></p>
        </form>
        </section>
        {{/canReply}}
        """

    /// A form's file picker (shown by the script, which uploads each file as it is chosen and
    /// adds its id as an `attachment` field), and the files chosen before the form came back
    /// with an error. The accept list leaves HEIC out, so an iPhone sends JPEG.
    static func filePicker(label: String, chosen: String) -> String {
        """
        {{#attachments}}<input type="hidden" name="attachment" value="{{.}}">{{/attachments}}
        {{^empty(attachments)}}<p class="meta">\(chosen)</p>{{/empty(attachments)}}
        <div data-attach="{{maxFiles}}" hidden>
        <p><label for="files">\(label)</label>
        <input type="file" id="files" accept="image/jpeg,image/png,image/webp,application/pdf" multiple></p>
        <ul class="files-chosen" data-attach-list aria-live="polite"></ul>
        </div>
        """
    }

    static let postFilePicker = filePicker(label: "写真・PDF（{{maxFiles}}件まで。写真の位置情報などは取り除かれます）",
                                           chosen: "選んだファイル {{count(attachments)}} 件は、投稿すると付きます。")

    /// A post's or notice's files: photos shown (each a link to the full size), PDFs linked
    /// with their size.
    static let files = """
        {{^empty(files)}}<ul class="files">{{#files}}<li>{{#isImage}}<a href="{{url}}"><img src="{{url}}" alt="写真: {{name}}"{{#width}} width="{{width}}" height="{{height}}"{{/width}} loading="lazy"></a>{{/isImage}}{{^isImage}}<a href="{{url}}">{{name}}</a>（{{label}}・{{size}}）{{/isImage}}</li>{{/files}}</ul>{{/empty(files)}}
        """

    static let posts = """
        <ol class="posts">
        {{#posts}}
        <li id="post-{{id}}" class="post{{#hidden}} muted{{/hidden}}">
        <article aria-labelledby="post-{{id}}-author">
        <p class="meta"><strong id="post-{{id}}-author">{{author}}</strong> · <time datetime="{{createdISO}}">{{created}}</time>{{#edited}} · 編集済み{{/edited}}{{#status}} · <span class="tag">{{status}}</span>{{/status}}</p>
        {{#replyTo}}<p class="meta"><a href="#post-{{replyTo}}">返信先の投稿</a></p>{{/replyTo}}
        {{^deleted}}<div class="body">{{#paragraphs}}<p>{{.}}</p>{{/paragraphs}}</div>{{/deleted}}
        {{^deleted}}\(files){{/deleted}}
        {{#deleted}}<p class="meta">（この投稿は削除されました）</p>{{/deleted}}
        {{^empty(reactions)}}<p class="reactions">{{#reactions}}<span>{{label}} {{count}}</span> {{/reactions}}</p>{{/empty(reactions)}}
        {{#actionable}}
        <div class="post-actions">
        <form method="post" action="/posts/{{id}}/react"><input type="hidden" name="csrf" value="{{csrf}}"><input type="hidden" name="reaction" value="like">
        <button type="submit" class="small">いいね<span class="visually-hidden">（{{author}}さんの投稿）</span></button></form>
        {{#mine}}
        <a class="small" href="/posts/{{id}}/edit">編集<span class="visually-hidden">（{{created}}の投稿）</span></a>
        <form method="post" action="/posts/{{id}}/delete"><input type="hidden" name="csrf" value="{{csrf}}">
        <button type="submit" class="small secondary">削除<span class="visually-hidden">（{{created}}の投稿）</span></button></form>
        {{/mine}}
        {{^mine}}<a class="small" href="/posts/{{id}}/flag">通報<span class="visually-hidden">（{{author}}さんの投稿）</span></a>{{/mine}}
        </div>
        {{/actionable}}
        </article>
        </li>
        {{/posts}}
        </ol>
        {{#empty(posts)}}<p>まだ投稿はありません。</p>{{/empty(posts)}}
        """

    static let postEdit = """
        <h1>投稿を編集</h1>
        \(formErrors)
        <form method="post" action="/posts/{{id}}/edit" class="stack">
        <input type="hidden" name="csrf" value="{{csrf}}">
        <p><label for="body">本文</label>
        <textarea id="body" name="body" rows="6" required maxlength="5000">{{body}}</textarea></p>
        <p><button type="submit">保存する</button> <a href="/threads/{{threadId}}#post-{{id}}">やめる</a></p>
        </form>
        """

    static let postFlag = """
        <h1>投稿を通報する</h1>
        <p>モデレーターが内容を確認します。通報したことは投稿者には知らされません。</p>
        \(formErrors)
        <form method="post" action="/posts/{{id}}/flag" class="stack">
        <input type="hidden" name="csrf" value="{{csrf}}">
        <fieldset><legend>理由</legend>
        {{#reasons}}<p><input type="radio" id="reason-{{value}}" name="reason" value="{{value}}" required> <label for="reason-{{value}}">{{label}}</label></p>{{/reasons}}
        </fieldset>
        <p><label for="note">補足（任意）</label>
        <textarea id="note" name="note" rows="3" maxlength="500"></textarea></p>
        <p><button type="submit">通報する</button> <a href="/threads/{{threadId}}#post-{{id}}">やめる</a></p>
        </form>
        """

    static let search = """
        <nav class="crumbs" aria-label="パンくずリスト"><a href="/groups/{{groupId}}">{{groupName}}</a></nav>
        <h1>「{{query}}」の検索結果</h1>
        {{^empty(results)}}
        <ul class="cards">
        {{#results}}<li><p class="meta">{{author}} · <time datetime="{{createdISO}}">{{created}}</time></p><p>{{excerpt}}</p>
        <p><a href="/threads/{{threadId}}#post-{{id}}">スレッドで見る</a></p></li>{{/results}}
        </ul>
        {{/empty(results)}}
        {{#empty(results)}}<p>見つかりませんでした。</p>{{/empty(results)}}
        """

    static let me = """
        <h1>マイページ</h1>
        <dl class="profile">
        <dt>表示名</dt><dd>{{displayName}}</dd>
        <dt>メールアドレス</dt><dd>{{email}}</dd>
        </dl>
        {{#guardian}}
        <section aria-labelledby="delivery-heading">
        <h2 id="delivery-heading">学校・園からのお知らせの受け取り方</h2>
        \(formErrors)
        <form method="post" action="/me/delivery" class="stack">
        <input type="hidden" name="csrf" value="{{csrf}}">
        <fieldset><legend>受け取り方</legend>
        {{#deliveries}}<p><input type="radio" id="delivery-{{value}}" name="delivery" value="{{value}}"{{#checked}} checked{{/checked}}> <label for="delivery-{{value}}">{{label}}</label></p>{{/deliveries}}
        </fieldset>
        <p><label for="delivery-email">お知らせを受け取るメールアドレス（携帯のアドレスも可。空欄ならログインのアドレス）</label>
        <input id="delivery-email" name="email" type="email" maxlength="254" value="{{email}}"></p>
        <p><label for="delivery-phone">緊急時の連絡先電話番号（学校・園だけが見ます）</label>
        <input id="delivery-phone" name="phone" type="tel" maxlength="30" autocomplete="tel" value="{{phone}}"></p>
        <p><button type="submit">保存する</button></p>
        </form>
        </section>
        {{/guardian}}
        <section aria-labelledby="push-heading" data-push data-push-key="{{pushKey}}">
        <h2 id="push-heading">この端末への通知</h2>
        <p>{{#guardian}}学校・園からのお知らせと、{{/guardian}}下で選んだ町の防災・防犯情報を、このページを閉じていても端末に通知します。緊急のものは、触れるまで表示されたままになります。</p>
        <p><button type="button" data-push-enable hidden>この端末で通知を受け取る</button></p>
        <p data-push-state role="status"></p>
        <noscript><p>通知の登録には JavaScript が必要です。</p></noscript>
        {{^empty(devices)}}
        <h3>通知を受け取る端末</h3>
        <ul class="cards">
        {{#devices}}<li>{{name}}（<time datetime="{{createdISO}}">{{created}}</time> に登録）
        <form method="post" action="/me/push-devices/{{id}}/delete" class="inline"><input type="hidden" name="csrf" value="{{csrf}}"><button type="submit">通知を止める<span class="visually-hidden">（{{name}}）</span></button></form></li>{{/devices}}
        </ul>
        {{/empty(devices)}}
        </section>
        <section aria-labelledby="alert-push-heading">
        <h2 id="alert-push-heading">町の防災・防犯情報の通知</h2>
        {{^empty(alertPushErrors)}}
        <div class="errors" role="alert">
        <p><strong>保存できませんでした</strong></p>
        <ul>{{#alertPushErrors}}<li>{{.}}</li>{{/alertPushErrors}}</ul>
        </div>
        {{/empty(alertPushErrors)}}
        {{#alertPush}}
        <form method="post" action="/me/alert-push" class="stack">
        <input type="hidden" name="csrf" value="{{csrf}}">
        <p><input type="checkbox" id="alert-push" name="alerts"{{#enabled}} checked{{/enabled}}> <label for="alert-push">町の防災・防犯情報を、通知を受け取る端末に送る</label></p>
        <fieldset><legend>種別</legend>
        {{#categories}}<p><input type="checkbox" id="alert-push-category-{{code}}" name="category" value="{{code}}"{{#checked}} checked{{/checked}}{{#mandatory}} disabled{{/mandatory}}> <label for="alert-push-category-{{code}}">{{name}}{{#mandatory}}（必ず届きます）{{/mandatory}}</label></p>{{/categories}}
        </fieldset>
        {{^empty(areas)}}
        <fieldset><legend>地区（選ばなければ全地区。町全体への情報はいつも届きます）</legend>
        {{#areas}}<p><input type="checkbox" id="alert-push-area-{{code}}" name="area" value="{{code}}"{{#checked}} checked{{/checked}}> <label for="alert-push-area-{{code}}">{{name}}</label></p>{{/areas}}
        </fieldset>
        {{/empty(areas)}}
        <p><button type="submit">防災・防犯情報の通知を保存する</button></p>
        </form>
        {{/alertPush}}
        </section>
        <section aria-labelledby="password-heading">
        <h2 id="password-heading">パスワードの変更</h2>
        {{^empty(passwordErrors)}}
        <div class="errors" role="alert">
        <p><strong>パスワードを変更できませんでした</strong></p>
        <ul>{{#passwordErrors}}<li>{{.}}</li>{{/passwordErrors}}</ul>
        </div>
        {{/empty(passwordErrors)}}
        <form method="post" action="/me/password" class="stack">
        <input type="hidden" name="csrf" value="{{csrf}}">
        <p><label for="current-password">現在のパスワード</label>
        <input id="current-password" name="currentPassword" type="password" autocomplete="current-password" required maxlength="1024"></p>
        <p><label for="new-password">新しいパスワード（8 文字以上）</label>
        <input id="new-password" name="newPassword" type="password" autocomplete="new-password" required minlength="8" maxlength="1024"></p>
        <p>変更すると、ほかの端末やアプリではログアウトします。</p>
        <p><button type="submit">パスワードを変更する</button></p>
        </form>
        </section>
        <section aria-labelledby="notifications-heading">
        <h2 id="notifications-heading">通知</h2>
        <div id="notifications" data-live-region>
        {{^empty(notifications)}}
        <ul class="cards">
        {{#notifications}}<li>{{^read}}<span class="tag">未読</span> {{/read}}{{text}} <time datetime="{{createdISO}}">{{created}}</time>{{#link}} <a href="{{link}}">開く<span class="visually-hidden">（{{text}}）</span></a>{{/link}}</li>{{/notifications}}
        </ul>
        {{/empty(notifications)}}
        {{#empty(notifications)}}<p>通知はありません。</p>{{/empty(notifications)}}
        </div>
        </section>
        """

    static let notices = """
        <h1>学校・園からのお知らせ</h1>
        <nav aria-label="保護者のメニュー"><ul class="inline-list"><li><a href="/children">子どもと学校・園</a></li><li><a href="/absences">欠席・遅刻・早退の連絡</a></li></ul></nav>
        <div id="notices" data-live-region>
        {{^empty(items)}}
        <ul class="cards">
        {{#items}}
        <li{{#urgent}} class="urgent"{{/urgent}}>
        <h2>{{#urgent}}<span class="tag urgent-tag">緊急</span> {{/urgent}}<a href="/notices/{{id}}">{{title}}</a></h2>
        <p class="meta">{{organization}} · <time datetime="{{sentISO}}">{{sent}}</time> · {{#confirmed}}✓ {{/confirmed}}{{state}}</p>
        </li>
        {{/items}}
        </ul>
        {{/empty(items)}}
        {{#empty(items)}}<p>お知らせはまだありません。お子さんを登録すると、学校・園からのお知らせが届きます。</p>{{/empty(items)}}
        {{#next}}<p><a href="{{next}}">以前のお知らせ</a></p>{{/next}}
        </div>
        """

    static let notice = """
        <nav class="crumbs" aria-label="パンくずリスト"><a href="/notices">お知らせ一覧</a></nav>
        <h1>{{#notice.urgent}}<span class="tag urgent-tag">緊急</span> {{/notice.urgent}}{{notice.title}}</h1>
        <p class="meta">{{notice.organizationName}} · {{sent}} · {{state}}</p>
        <div class="body notice-body">{{#paragraphs}}<p>{{.}}</p>{{/paragraphs}}</div>
        \(files)
        {{^confirmed}}
        <form method="post" action="/notices/{{notice.id}}/confirm" class="actions">
        <input type="hidden" name="csrf" value="{{csrf}}">
        <button type="submit">確認しました</button>
        </form>
        {{/confirmed}}
        {{#confirmed}}<p class="notice">✓ 確認済みです。</p>{{/confirmed}}
        {{#question}}
        <section aria-labelledby="reply-heading">
        <h2 id="reply-heading">回答</h2>
        \(formErrors)
        <p>{{question}}{{#deadline}}（回答期限: {{deadline}}）{{/deadline}}</p>
        <form method="post" action="/notices/{{notice.id}}/answers" class="stack">
        <input type="hidden" name="csrf" value="{{csrf}}">
        {{#children}}
        <fieldset><legend>{{name}}{{#answered}}（回答済み）{{/answered}}</legend>
        {{#single}}{{#options}}<p><input type="radio" id="choice-{{id}}-{{index}}" name="choice-{{id}}" value="{{index}}"{{#checked}} checked{{/checked}}> <label for="choice-{{id}}-{{index}}">{{label}}</label></p>{{/options}}{{/single}}
        {{#multiple}}{{#options}}<p><input type="checkbox" id="choice-{{id}}-{{index}}" name="choice-{{id}}" value="{{index}}"{{#checked}} checked{{/checked}}> <label for="choice-{{id}}-{{index}}">{{label}}</label></p>{{/options}}{{/multiple}}
        {{#textAnswer}}<p><label for="text-{{id}}">回答</label><textarea id="text-{{id}}" name="text-{{id}}" rows="3" maxlength="1000">{{text}}</textarea></p>{{/textAnswer}}
        </fieldset>
        {{/children}}
        <p><button type="submit">回答を送る</button></p>
        </form>
        </section>
        {{/question}}
        """

    static let children = """
        <h1>子どもと学校・園</h1>
        {{^empty(children)}}
        <ul class="cards">
        {{#children}}<li><strong>{{name}}</strong><p class="meta">{{organization}}{{#className}} · {{className}}{{/className}}</p></li>{{/children}}
        </ul>
        {{/empty(children)}}
        {{#empty(children)}}<p>登録されたお子さんはいません。</p>{{/empty(children)}}
        <section aria-labelledby="link-heading">
        <h2 id="link-heading">お子さんを登録する</h2>
        <p>学校・園から受け取った12文字の登録コードを入力してください。</p>
        \(formErrors)
        <form method="post" action="/children" class="stack">
        <input type="hidden" name="csrf" value="{{csrf}}">
        <p><label for="code">登録コード</label>
        <input id="code" name="code" required maxlength="20" autocomplete="off" value="{{code}}" aria-describedby="code-hint">
        <span class="hint" id="code-hint">例: ABCD-EFGH-JKLM（ハイフンはあってもなくてもかまいません）</span></p>
        <p><button type="submit">登録する</button></p>
        </form>
        </section>
        """

    static let moderation = """
        <h1>モデレーション</h1>
        <nav aria-label="モデレーションのメニュー"><ul class="inline-list">
        {{#townModerator}}<li><a href="/moderation/watched-words">監視語</a></li>{{/townModerator}}
        {{#townModerator}}<li><a href="/moderation/log">対応の記録</a></li>{{/townModerator}}
        {{#townModerator}}<li><a href="/moderation/suspensions">利用停止</a></li>{{/townModerator}}
        </ul></nav>
        <form method="get" action="/moderation" class="inline">
        <p><label for="state">表示する通報</label>
        <select id="state" name="state">{{#filters}}<option value="{{value}}"{{#selected}} selected{{/selected}}>{{label}}</option>{{/filters}}</select>
        <button type="submit">表示</button></p>
        </form>
        <div id="queue" data-live-region>
        {{^empty(items)}}
        <ul class="cards">
        {{#items}}
        <li>
        <h2><a href="/moderation/items/{{id}}">{{group}}の投稿</a></h2>
        <p class="excerpt">{{excerpt}}</p>
        <p class="meta">{{reasons}} · {{state}}{{#hidden}} · 非表示中{{/hidden}} · <time>{{flagged}}</time></p>
        </li>
        {{/items}}
        </ul>
        {{/empty(items)}}
        {{#empty(items)}}<p>対応を待っている通報はありません。</p>{{/empty(items)}}
        {{#next}}<p><a href="{{next}}">古い通報</a></p>{{/next}}
        </div>
        """

    static let moderationItem = """
        <nav class="crumbs" aria-label="パンくずリスト"><a href="/moderation">モデレーション</a></nav>
        <h1>通報の確認</h1>
        <p class="meta">{{item.groupName}} · {{state}} · 投稿は{{postState}}</p>
        <section aria-labelledby="post-heading">
        <h2 id="post-heading">通報された投稿</h2>
        <blockquote class="body">{{#paragraphs}}<p>{{.}}</p>{{/paragraphs}}</blockquote>
        <p><a href="/threads/{{item.threadId}}#post-{{item.postId}}">スレッドで見る</a></p>
        </section>
        <section aria-labelledby="flags-heading">
        <h2 id="flags-heading">通報</h2>
        <ul class="cards">{{#flags}}<li><strong>{{reason}}</strong> · {{name}} · <time>{{at}}</time>{{#note}}<p>{{note}}</p>{{/note}}</li>{{/flags}}</ul>
        </section>
        {{^empty(history)}}
        <section aria-labelledby="history-heading">
        <h2 id="history-heading">これまでの対応</h2>
        <ul class="cards">{{#history}}<li>{{action}} · <time>{{at}}</time><p>{{reason}}</p></li>{{/history}}</ul>
        </section>
        {{/empty(history)}}
        <section aria-labelledby="action-heading">
        <h2 id="action-heading">{{#open}}対応する{{/open}}{{^open}}さらに対応する（投稿者への注意・一時停止・追放、投稿の復元）{{/open}}</h2>
        \(formErrors)
        <form method="post" action="/moderation/items/{{item.id}}" class="stack">
        <input type="hidden" name="csrf" value="{{csrf}}">
        <fieldset><legend>対応</legend>
        {{#actions}}<p><input type="radio" id="action-{{value}}" name="action" value="{{value}}" required> <label for="action-{{value}}">{{label}}</label></p>{{/actions}}
        </fieldset>
        <p><label for="reason">理由（記録に残ります）</label>
        <textarea id="reason" name="reason" rows="3" required maxlength="500">{{reason}}</textarea></p>
        <p><label for="hours">期間（時間、一時停止・追放のとき）</label>
        <input id="hours" name="durationHours" type="number" min="1" max="8760" inputmode="numeric"></p>
        {{#townModerator}}<p><input type="checkbox" id="scope" name="scope" value="town"> <label for="scope">一時停止を町全体に適用する</label></p>{{/townModerator}}
        <p><button type="submit">決定する</button></p>
        </form>
        </section>
        """

    static let watchedWords = """
        <nav class="crumbs" aria-label="パンくずリスト"><a href="/moderation">モデレーション</a></nav>
        <h1>監視語</h1>
        \(formErrors)
        <section aria-labelledby="add-heading">
        <h2 id="add-heading">語を追加・変更する</h2>
        <form method="post" action="/moderation/watched-words" class="stack">
        <input type="hidden" name="csrf" value="{{csrf}}">
        <p><label for="pattern">語</label><input id="pattern" name="pattern" required maxlength="100"></p>
        <p><label for="word-action">見つけたとき</label>
        <select id="word-action" name="action"><option value="hold">保留して確認</option><option value="block">投稿させない</option><option value="flag">投稿して通報</option></select></p>
        <p><input type="checkbox" id="fold" name="fold"> <label for="fold">ひらがなとカタカナを区別しない</label></p>
        <p><button type="submit">保存する</button></p>
        </form>
        </section>
        <section aria-labelledby="list-heading">
        <h2 id="list-heading">登録されている語</h2>
        <p><a href="/moderation/watched-words.csv" download>CSVでダウンロード</a></p>
        {{^empty(words)}}
        <table>
        <caption class="visually-hidden">監視語の一覧</caption>
        <thead><tr><th scope="col">語</th><th scope="col">見つけたとき</th><th scope="col">かな</th><th scope="col"><span class="visually-hidden">操作</span></th></tr></thead>
        <tbody>
        {{#words}}<tr><td>{{pattern}}</td><td>{{action}}</td><td>{{#fold}}区別しない{{/fold}}</td>
        <td><form method="post" action="/moderation/watched-words/{{id}}/delete"><input type="hidden" name="csrf" value="{{csrf}}"><button type="submit" class="small secondary">削除<span class="visually-hidden">（{{pattern}}）</span></button></form></td></tr>{{/words}}
        </tbody>
        </table>
        {{/empty(words)}}
        {{#empty(words)}}<p>登録されている語はありません。</p>{{/empty(words)}}
        </section>
        <section aria-labelledby="import-heading">
        <h2 id="import-heading">CSVから取り込む</h2>
        <form method="post" action="/moderation/watched-words/import" class="stack">
        <input type="hidden" name="csrf" value="{{csrf}}">
        <p><label for="csv">CSV（1行に「語,block|hold|flag[,fold]」）</label>
        <textarea id="csv" name="csv" rows="6" required aria-describedby="csv-hint"></textarea>
        <span class="hint" id="csv-hint">ダウンロードしたCSVを編集して貼り付けられます。1行でも誤りがあれば何も取り込みません。</span></p>
        <p><button type="submit">取り込む</button></p>
        </form>
        </section>
        """

    static let moderationLog = """
        <nav class="crumbs" aria-label="パンくずリスト"><a href="/moderation">モデレーション</a></nav>
        <h1>対応の記録</h1>
        {{^empty(entries)}}
        <ul class="cards">{{#entries}}<li><strong>{{action}}</strong> · <time>{{at}}</time>{{#item}} · <a href="/moderation/items/{{item}}">通報 {{item}}</a>{{/item}}<p>{{reason}}</p></li>{{/entries}}</ul>
        {{/empty(entries)}}
        {{#empty(entries)}}<p>記録はありません。</p>{{/empty(entries)}}
        {{#next}}<p><a href="{{next}}">以前の記録</a></p>{{/next}}
        """

    static let schools = """
        <h1>学校・園の職員ページ</h1>
        {{^empty(items)}}
        <ul class="cards">{{#items}}<li><h2><a href="/schools/{{id}}">{{name}}</a></h2><p class="meta">{{kind}}</p></li>{{/items}}</ul>
        {{/empty(items)}}
        {{#empty(items)}}<p>職員として登録されている学校・園はありません。</p>{{/empty(items)}}
        """

    static let school = """
        <nav class="crumbs" aria-label="パンくずリスト"><a href="/schools">学校・園の職員ページ</a></nav>
        <h1>{{name}}</h1>
        <p class="actions"><a class="button" href="/schools/{{organizationId}}/notices/new">お知らせを作成</a> <a href="/schools/{{organizationId}}/absences">欠席連絡</a> <a href="/schools/{{organizationId}}/classes">クラスと子ども</a> <a href="/schools/{{organizationId}}/lists">名簿</a> <a href="/schools/{{organizationId}}/staff">職員と設定</a></p>
        <div id="approval" data-live-region>
        {{^empty(pending)}}
        <section aria-labelledby="pending-heading">
        <h2 id="pending-heading">承認待ちのお知らせ</h2>
        <ul class="cards">{{#pending}}<li>{{#urgent}}<span class="tag urgent-tag">緊急</span> {{/urgent}}<a href="/schools/{{organizationId}}/notices/{{id}}">{{title}}</a><p class="meta">{{state}}</p></li>{{/pending}}</ul>
        </section>
        {{/empty(pending)}}
        </div>
        <section aria-labelledby="notices-heading">
        <h2 id="notices-heading">お知らせ</h2>
        {{^empty(notices)}}
        <ul class="cards">
        {{#notices}}<li>{{#urgent}}<span class="tag urgent-tag">緊急</span> {{/urgent}}<a href="/schools/{{organizationId}}/notices/{{id}}">{{title}}</a><p class="meta">{{state}} · <time>{{when}}</time></p></li>{{/notices}}
        </ul>
        {{/empty(notices)}}
        {{#empty(notices)}}<p>お知らせはまだありません。</p>{{/empty(notices)}}
        {{#next}}<p><a href="{{next}}">以前のお知らせ</a></p>{{/next}}
        </section>
        """

    static let noticeCompose = """
        <nav class="crumbs" aria-label="パンくずリスト"><a href="/schools/{{organizationId}}">{{organizationName}}</a></nav>
        <h1>お知らせを作成</h1>
        \(formErrors)
        {{#preview}}
        <section aria-labelledby="preview-heading" class="preview">
        <h2 id="preview-heading">プレビュー（保護者に届く内容）</h2>
        <p class="meta">送る相手: {{audience}}</p>
        <h3>{{#urgent}}<span class="tag urgent-tag">緊急</span> {{/urgent}}{{title}}</h3>
        <div class="body">{{#paragraphs}}<p>{{.}}</p>{{/paragraphs}}</div>
        {{#hasForm}}<p><strong>回答:</strong> {{formQuestion}}</p><ul>{{#formOptions}}<li>{{.}}</li>{{/formOptions}}</ul>{{/hasForm}}
        </section>
        {{/preview}}
        <form method="post" action="/schools/{{organizationId}}/notices" class="stack">
        <input type="hidden" name="csrf" value="{{csrf}}">
        <input type="hidden" name="key" value="{{key}}">
        <p><label for="title">件名</label><input id="title" name="title" required maxlength="100" value="{{title}}"></p>
        <p><label for="body">本文</label><textarea id="body" name="body" rows="8" required maxlength="5000">{{body}}</textarea></p>
        \(filePicker(label: "PDF・写真（学年だよりなど。{{maxFiles}}件まで）",
                     chosen: "添付ファイル {{count(attachments)}} 件（送信するとお知らせに付きます。メールではファイル名とページへのリンクが届きます）"))
        <p><input type="checkbox" id="urgent" name="urgent"{{#urgent}} checked{{/urgent}}> <label for="urgent">緊急連絡（静かな時間でもすぐに送り、未確認の家庭を追跡します）</label></p>
        <fieldset><legend>送る相手</legend>
        <p><input type="radio" id="audience-all" name="audience" value="all"{{#all}} checked{{/all}}> <label for="audience-all">全員</label></p>
        <p><input type="radio" id="audience-chosen" name="audience" value="chosen"{{^all}} checked{{/all}}> <label for="audience-chosen">選んだ相手（学年・クラス・名簿）</label></p>
        {{^empty(grades)}}<fieldset class="indent"><legend>学年</legend>
        {{#grades}}<p><input type="checkbox" id="grade-{{id}}" name="grade" value="{{id}}"{{#checked}} checked{{/checked}}> <label for="grade-{{id}}">{{name}}</label></p>{{/grades}}
        </fieldset>{{/empty(grades)}}
        {{^empty(classes)}}<fieldset class="indent"><legend>クラス</legend>
        {{#classes}}<p><input type="checkbox" id="class-{{id}}" name="class" value="{{id}}"{{#checked}} checked{{/checked}}> <label for="class-{{id}}">{{name}}</label></p>{{/classes}}
        </fieldset>{{/empty(classes)}}
        {{^empty(lists)}}<fieldset class="indent"><legend>名簿</legend>
        {{#lists}}<p><input type="checkbox" id="list-{{id}}" name="list" value="{{id}}"{{#checked}} checked{{/checked}}> <label for="list-{{id}}">{{name}}</label></p>{{/lists}}
        </fieldset>{{/empty(lists)}}
        </fieldset>
        <p><label for="send-at">送信日時（空欄ならすぐ）</label><input id="send-at" name="sendAt" type="datetime-local" value="{{sendAt}}"></p>
        <fieldset><legend>回答フォーム</legend>
        <p><label for="form-kind">回答のしかた</label><select id="form-kind" name="formKind">{{#formKinds}}<option value="{{value}}"{{#selected}} selected{{/selected}}>{{label}}</option>{{/formKinds}}</select></p>
        <p><label for="question">質問</label><input id="question" name="question" maxlength="200" value="{{question}}"></p>
        <p><label for="options">選択肢（1行に1つ）</label><textarea id="options" name="options" rows="3">{{options}}</textarea></p>
        </fieldset>
        <p><label for="skip-reason">承認を省略する理由（緊急で、省略が認められている職員のみ）</label><input id="skip-reason" name="skipReason" maxlength="500" value="{{skipReason}}"></p>
        <p class="actions"><button type="submit" name="preview" value="1" class="secondary">プレビュー</button> <button type="submit" name="send" value="1">送信する</button></p>
        </form>
        """

    static let schoolNotice = """
        <nav class="crumbs" aria-label="パンくずリスト"><a href="/schools/{{organizationId}}">お知らせ一覧</a></nav>
        <h1>{{#notice.urgent}}<span class="tag urgent-tag">緊急</span> {{/notice.urgent}}{{notice.title}}</h1>
        <p class="meta">{{state}}</p>
        {{#counts}}
        {{^empty(classes)}}
        <form method="get" action="/schools/{{organizationId}}/notices/{{notice.id}}" class="inline">
        <p><label for="class-filter">クラス</label><select id="class-filter" name="classId"><option value="">すべてのクラス</option>{{#classes}}<option value="{{id}}"{{#checked}} selected{{/checked}}>{{name}}</option>{{/classes}}</select>
        <button type="submit" class="secondary">絞り込む</button></p>
        </form>
        {{/empty(classes)}}
        {{/counts}}
        <div id="dashboard" data-live-region>
        {{#counts}}
        <section aria-labelledby="progress-heading">
        <h2 id="progress-heading">確認の状況{{#className}}（{{className}}）{{/className}}</h2>
        <p><label for="confirmed-bar">確認済みの家庭</label>
        <progress id="confirmed-bar" max="100" value="{{percent}}">{{percent}}%</progress>
        <strong class="count">{{confirmedHouseholds}} / {{households}} 家庭</strong>（{{percent}}%）</p>
        <dl class="counts">
        <dt>届いた保護者</dt><dd>{{delivered}} / {{guardians}}</dd>
        <dt>開いた保護者</dt><dd>{{opened}}</dd>
        <dt>確認した保護者</dt><dd>{{confirmedGuardians}}</dd>
        </dl>
        </section>
        <section aria-labelledby="unconfirmed-heading">
        <h2 id="unconfirmed-heading">まだ確認していない家庭</h2>
        {{^empty(unconfirmed)}}
        <table><caption class="visually-hidden">未確認の家庭</caption>
        <thead><tr><th scope="col">クラス</th><th scope="col">子ども</th><th scope="col">保護者</th></tr></thead>
        <tbody>{{#unconfirmed}}<tr><td>{{classes}}</td><td>{{children}}</td><td>{{guardians}}</td></tr>{{/unconfirmed}}</tbody></table>
        {{/empty(unconfirmed)}}
        {{#empty(unconfirmed)}}<p>すべての家庭が確認しました。</p>{{/empty(unconfirmed)}}
        {{#escalation}}<p class="notice-line">{{escalation}}</p>{{/escalation}}
        {{^empty(unconfirmed)}}<p><a href="/schools/{{organizationId}}/notices/{{notice.id}}/call-list{{#className}}?classId={{classId}}{{/className}}">電話連絡リスト（未確認の家庭の電話番号）</a></p>{{/empty(unconfirmed)}}
        </section>
        {{/counts}}
        </div>
        <section aria-labelledby="content-heading">
        <h2 id="content-heading">内容</h2>
        <div class="body">{{#paragraphs}}<p>{{.}}</p>{{/paragraphs}}</div>
        \(files)
        </section>
        {{^empty(trail)}}
        <section aria-labelledby="trail-heading">
        <h2 id="trail-heading">承認の記録</h2>
        <ul class="cards">{{#trail}}<li>{{action}} · {{who}} · <time>{{at}}</time>{{#comment}}<p>{{comment}}</p>{{/comment}}</li>{{/trail}}</ul>
        </section>
        {{/empty(trail)}}
        {{#pending}}{{#mayApprove}}
        <section aria-labelledby="approve-heading">
        <h2 id="approve-heading">承認</h2>
        <form method="post" action="/schools/{{organizationId}}/notices/{{notice.id}}/approve" class="stack">
        <input type="hidden" name="csrf" value="{{csrf}}"><input type="hidden" name="revision" value="{{notice.revision}}">
        <p><label for="approve-comment">コメント（任意）</label><input id="approve-comment" name="comment" maxlength="500"></p>
        <p><button type="submit">承認する</button></p>
        </form>
        <form method="post" action="/schools/{{organizationId}}/notices/{{notice.id}}/return" class="stack">
        <input type="hidden" name="csrf" value="{{csrf}}">
        <p><label for="return-comment">差し戻す理由</label><input id="return-comment" name="comment" required maxlength="500"></p>
        <p><button type="submit" class="secondary">差し戻す</button></p>
        </form>
        </section>
        {{/mayApprove}}{{/pending}}
        """

    static let noticeCallList = """
        <nav class="crumbs" aria-label="パンくずリスト"><a href="/schools/{{organizationId}}/notices/{{noticeId}}">{{title}}</a></nav>
        <h1>電話連絡リスト{{#className}}（{{className}}）{{/className}}</h1>
        <p>「{{title}}」をまだ確認していない家庭と、学校・園に登録された電話番号です。連絡がついた家庭も、保護者が確認するまでここに残ります。</p>
        {{^empty(households)}}
        <table><caption class="visually-hidden">未確認の家庭の連絡先</caption>
        <thead><tr><th scope="col">クラス</th><th scope="col">子ども</th><th scope="col">保護者と電話番号</th></tr></thead>
        <tbody>{{#households}}<tr><td>{{classes}}</td><td>{{children}}</td><td><ul class="plain">{{#guardians}}<li>{{name}}：{{#phone}}<a href="tel:{{tel}}">{{phone}}</a>{{/phone}}{{^phone}}電話番号の登録なし{{/phone}}</li>{{/guardians}}</ul></td></tr>{{/households}}</tbody></table>
        {{/empty(households)}}
        {{#empty(households)}}<p>すべての家庭が確認しました。</p>{{/empty(households)}}
        """

    static let alerts = """
        <h1>防災・防犯メール</h1>
        <nav aria-label="防災・防犯メールのメニュー"><ul class="inline-list">
        <li><a class="button" href="/alerts/new">新しく送る</a></li>
        <li><a href="/alerts/subscribers">登録者</a></li>
        <li><a href="/alerts/settings">種別と地区</a></li>
        </ul></nav>
        {{^empty(waiting)}}
        <section aria-labelledby="weather-heading">
        <h2 id="weather-heading">送信の判断を待つ気象警報のメール</h2>
        <p>気象庁の発表をもとに作ったメールです。内容を確かめて、送るか送らないかを選んでください。</p>
        <ul class="cards">
        {{#waiting}}<li><h3>{{#urgent}}<span class="tag urgent-tag">緊急</span> {{/urgent}}{{subject}}</h3>
        <p class="meta">気象庁の発表 <time>{{reported}}</time></p>
        <div class="body">{{#paragraphs}}<p>{{.}}</p>{{/paragraphs}}</div>
        <form method="post" action="/alerts/weather/{{id}}/send" class="inline"><input type="hidden" name="csrf" value="{{csrf}}"><button type="submit">このメールを送る</button></form>
        <form method="post" action="/alerts/weather/{{id}}/discard" class="inline"><input type="hidden" name="csrf" value="{{csrf}}"><button type="submit" class="secondary">送らない</button></form>
        </li>{{/waiting}}
        </ul>
        </section>
        {{/empty(waiting)}}
        {{^empty(items)}}
        <ul class="cards">
        {{#items}}<li>{{#urgent}}<span class="tag urgent-tag">緊急</span> {{/urgent}}<a href="/alerts/{{id}}">{{subject}}</a>
        <p class="meta"><time>{{when}}</time> · 送信済み {{sent}} / {{recipients}} 件{{#cancelled}} · 取り消し{{/cancelled}}</p></li>{{/items}}
        </ul>
        {{/empty(items)}}
        {{#empty(items)}}<p>まだ送ったメールはありません。</p>{{/empty(items)}}
        {{#next}}<p><a href="{{next}}">以前のメール</a></p>{{/next}}
        """

    static let alertCompose = """
        <nav class="crumbs" aria-label="パンくずリスト"><a href="/alerts">防災・防犯メール</a></nav>
        <h1>防災・防犯メールを送る</h1>
        \(formErrors)
        {{#preview}}
        <section aria-labelledby="preview-heading" class="preview">
        <h2 id="preview-heading">プレビュー</h2>
        <h3>スマートフォン・パソコン</h3>
        <p><strong>{{subject}}</strong></p>
        <div class="body">{{#lines}}<p>{{.}}</p>{{/lines}}</div>
        {{#carrierSubject}}
        <h3>携帯電話（ISO-2022-JP）</h3>
        {{#differs}}<p class="warning">携帯電話では表示が変わる文字があります（〓は表示できない文字です）。</p>{{/differs}}
        <p><strong>{{carrierSubject}}</strong></p>
        <div class="body carrier">{{#carrierLines}}<p>{{.}}</p>{{/carrierLines}}</div>
        {{/carrierSubject}}
        </section>
        {{/preview}}
        <form method="post" action="/alerts" class="stack">
        <input type="hidden" name="csrf" value="{{csrf}}">
        <input type="hidden" name="key" value="{{key}}">
        <p><label for="category">種別</label>
        <select id="category" name="category" required><option value="">選んでください</option>{{#categories}}<option value="{{code}}"{{#selected}} selected{{/selected}}>{{name}}</option>{{/categories}}</select></p>
        {{^empty(areas)}}
        <fieldset><legend>地区（選ばなければ全地区）</legend>
        {{#areas}}<p><input type="checkbox" id="area-{{code}}" name="area" value="{{code}}"{{#selected}} checked{{/selected}}> <label for="area-{{code}}">{{name}}</label></p>{{/areas}}
        </fieldset>
        {{/empty(areas)}}
        <p><input type="checkbox" id="urgent" name="urgent"{{#urgent}} checked{{/urgent}}> <label for="urgent">緊急（受信時間帯の設定にかかわらず、すぐに送ります）</label></p>
        <p><label for="subject">件名</label><input id="subject" name="subject" required maxlength="100" value="{{subject}}"></p>
        <p><label for="body">本文</label><textarea id="body" name="body" rows="8" required maxlength="5000">{{body}}</textarea></p>
        \(filePicker(label: "地図・PDF・写真（{{maxFiles}}件まで。メールにはファイルへのリンクが付きます）",
                     chosen: "添付ファイル {{count(attachments)}} 件（送信すると、メールの最後に各ファイルへのリンクが付きます）"))
        <p><label for="send-at">送信日時（空欄ならすぐ）</label><input id="send-at" name="sendAt" type="datetime-local" value="{{sendAt}}"></p>
        <p class="actions"><button type="submit" name="preview" value="1" class="secondary">プレビュー</button> <button type="submit" name="send" value="1">送信する</button></p>
        </form>
        """

    static let alert = """
        <nav class="crumbs" aria-label="パンくずリスト"><a href="/alerts">防災・防犯メール</a></nav>
        <h1>{{#alert.urgent}}<span class="tag urgent-tag">緊急</span> {{/alert.urgent}}{{alert.subject}}</h1>
        <p class="meta"><time>{{when}}</time>{{#alert.cancelled}} · 取り消し済み{{/alert.cancelled}}</p>
        <div id="progress" data-live-region>
        <section aria-labelledby="progress-heading">
        <h2 id="progress-heading">送信の状況</h2>
        <p><label for="sent-bar">送信済み</label>
        <progress id="sent-bar" max="100" value="{{percent}}">{{percent}}%</progress>
        <strong class="count">{{sent}} / {{alert.recipients}} 件</strong>（{{percent}}%）{{#finished}} · 完了{{/finished}}</p>
        <dl class="counts"><dt>送信待ち</dt><dd class="pending">{{pending}}</dd><dt>失敗</dt><dd class="failed">{{failed}}</dd></dl>
        {{^empty(carriers)}}
        <table><caption>携帯電話会社ごと</caption>
        <thead><tr><th scope="col">宛先</th><th scope="col">送信済み</th><th scope="col">送信待ち</th><th scope="col">失敗</th><th scope="col">合計</th></tr></thead>
        <tbody>{{#carriers}}<tr><th scope="row">{{name}}</th><td>{{sent}}</td><td>{{pending}}</td><td>{{failed}}</td><td>{{total}}</td></tr>{{/carriers}}</tbody>
        </table>
        {{/empty(carriers)}}
        </section>
        </div>
        <p><a href="/alerts/{{id}}/deliveries.csv" download>送信記録（CSV）</a></p>
        <section aria-labelledby="content-heading">
        <h2 id="content-heading">本文（送ったとおり）</h2>
        <div class="body">{{#paragraphs}}<p>{{.}}</p>{{/paragraphs}}</div>
        \(files)
        \(withdrawnFiles)
        </section>
        {{^empty(withdrawable)}}
        <section aria-labelledby="withdraw-heading">
        <h2 id="withdraw-heading">添付ファイルの取り下げ</h2>
        <p>間違ったファイルを送ったときは取り下げてください。メールのリンクを開くと「取り下げられました」と表示され、ファイルは削除されます。届いたメールそのものは取り消せません。</p>
        {{#withdrawable}}
        <form method="post" action="/alerts/{{alertID}}/files/{{fileID}}/withdraw" class="stack">
        <input type="hidden" name="csrf" value="{{csrf}}">
        <p><input type="checkbox" id="withdraw-{{fileID}}" name="confirm" value="1" required> <label for="withdraw-{{fileID}}">「{{name}}」を取り下げる</label>
        <button type="submit" class="danger">取り下げる<span class="visually-hidden">（{{name}}）</span></button></p>
        </form>
        {{/withdrawable}}
        </section>
        {{/empty(withdrawable)}}
        """

    /// Files taken off an alert after it went out.
    static let withdrawnFiles = """
        {{^empty(withdrawn)}}<ul class="files withdrawn">{{#withdrawn}}<li><del>{{name}}</del>（{{when}} に取り下げられました）</li>{{/withdrawn}}</ul>{{/empty(withdrawn)}}
        """

    /// An alert for everyone holding its link (a push opens it): no staff's figures.
    static let alertPublic = """
        <article aria-labelledby="alert-heading">
        <h1 id="alert-heading">{{#urgent}}<span class="tag urgent-tag">緊急</span> {{/urgent}}{{subject}}</h1>
        <p class="meta">{{category}} · {{areas}} · <time datetime="{{iso}}">{{when}}</time></p>
        {{#cancelled}}<p class="warning" role="note">この情報は取り消されました。</p>{{/cancelled}}
        <div class="body">{{#paragraphs}}<p>{{.}}</p>{{/paragraphs}}</div>
        \(files)
        \(withdrawnFiles)
        </article>
        """

    static let alertSubscribers = """
        <nav class="crumbs" aria-label="パンくずリスト"><a href="/alerts">防災・防犯メール</a></nav>
        <h1>登録者</h1>
        <form method="get" action="/alerts/subscribers" role="search" class="inline">
        <p><label for="email">メールアドレスで探す</label><input id="email" name="email" type="email" maxlength="254" value="{{query}}"> <button type="submit">検索</button></p>
        </form>
        {{^empty(items)}}
        <table><caption class="visually-hidden">登録者の一覧</caption>
        <thead><tr><th scope="col">メールアドレス</th><th scope="col">状態</th><th scope="col">文字コード</th><th scope="col">種別</th><th scope="col">地区</th></tr></thead>
        <tbody>{{#items}}<tr><td>{{email}}</td><td>{{status}}</td><td>{{charset}}</td><td>{{categories}}</td><td>{{areas}}</td></tr>{{/items}}</tbody>
        </table>
        {{/empty(items)}}
        {{#empty(items)}}<p>該当する登録者はいません。</p>{{/empty(items)}}
        {{#next}}<p><a href="{{next}}">次のページ</a></p>{{/next}}
        """

    static let alertSettings = """
        <nav class="crumbs" aria-label="パンくずリスト"><a href="/alerts">防災・防犯メール</a></nav>
        <h1>種別と地区</h1>
        \(formErrors)
        <section aria-labelledby="categories-heading">
        <h2 id="categories-heading">種別</h2>
        <ul class="cards">{{#categories}}<li>{{name}} <span class="meta">({{code}}){{#mandatory}} · 必ず配信{{/mandatory}}{{#archived}} · 使用停止{{/archived}}</span></li>{{/categories}}</ul>
        {{#mayConfigure}}
        <form method="post" action="/alerts/settings/categories" class="stack">
        <input type="hidden" name="csrf" value="{{csrf}}">
        <p><label for="category-code">コード（半角英小文字）</label><input id="category-code" name="code" required maxlength="32"></p>
        <p><label for="category-name">名前</label><input id="category-name" name="name" required maxlength="30"></p>
        <p><input type="checkbox" id="mandatory" name="mandatory"> <label for="mandatory">必ず配信する（登録者が外せない）</label></p>
        <p><button type="submit">種別を追加・変更</button></p>
        </form>
        {{/mayConfigure}}
        </section>
        <section aria-labelledby="areas-heading">
        <h2 id="areas-heading">地区</h2>
        <ul class="cards">{{#areas}}<li>{{name}} <span class="meta">({{code}}){{#archived}} · 使用停止{{/archived}}</span></li>{{/areas}}</ul>
        {{#mayConfigure}}
        <form method="post" action="/alerts/settings/areas" class="stack">
        <input type="hidden" name="csrf" value="{{csrf}}">
        <p><label for="area-code">コード（半角英小文字）</label><input id="area-code" name="code" required maxlength="32"></p>
        <p><label for="area-name">名前</label><input id="area-name" name="name" required maxlength="30"></p>
        <p><button type="submit">地区を追加・変更</button></p>
        </form>
        {{/mayConfigure}}
        </section>
        """

    static let absences = """
        <nav class="crumbs" aria-label="パンくずリスト"><a href="/notices">学校・園からのお知らせ</a></nav>
        <h1>欠席・遅刻・早退の連絡</h1>
        \(formErrors)
        {{#empty(children)}}<p>お子さんが登録されていません。<a href="/children">子どもと学校・園</a>で登録してください。</p>{{/empty(children)}}
        {{#children}}
        <section aria-labelledby="child-{{id}}-heading">
        <h2 id="child-{{id}}-heading">{{name}}（{{organization}}）</h2>
        <form method="post" action="/absences" class="stack">
        <input type="hidden" name="csrf" value="{{csrf}}"><input type="hidden" name="child" value="{{id}}">
        <fieldset><legend>種類</legend>
        {{#kinds}}<p><input type="radio" id="kind-{{id}}-{{value}}" name="kind" value="{{value}}"{{#first}} checked{{/first}}> <label for="kind-{{id}}-{{value}}">{{label}}</label></p>{{/kinds}}
        </fieldset>
        <p><label for="day-{{id}}">日付</label><input id="day-{{id}}" name="day" type="date" required value="{{today}}"></p>
        <p><label for="reason-{{id}}">理由</label><select id="reason-{{id}}" name="reason" required><option value="">選んでください</option>{{#reasons}}<option>{{.}}</option>{{/reasons}}</select></p>
        <p><label for="note-{{id}}">連絡事項（任意）</label><textarea id="note-{{id}}" name="note" rows="3" maxlength="500"></textarea></p>
        <p><button type="submit">{{name}}の連絡を送る</button></p>
        </form>
        </section>
        {{/children}}
        <section aria-labelledby="sent-heading">
        <h2 id="sent-heading">送った連絡</h2>
        <div id="sent-reports" data-live-region>
        {{^empty(reports)}}<ul class="cards">{{#reports}}<li><strong>{{child}}</strong> · {{day}} · {{kind}} · {{reason}}{{#note}}<p>{{note}}</p>{{/note}}<p class="meta">{{#acknowledged}}✓ {{acknowledged}}{{/acknowledged}}{{^acknowledged}}未確認{{/acknowledged}}</p></li>{{/reports}}</ul>{{/empty(reports)}}
        {{#empty(reports)}}<p>まだ連絡はありません。</p>{{/empty(reports)}}
        </div>
        </section>
        """

    static let absenceInbox = """
        <nav class="crumbs" aria-label="パンくずリスト"><a href="/schools/{{organizationId}}">お知らせ一覧</a></nav>
        <h1>欠席連絡</h1>
        <form method="get" action="/schools/{{organizationId}}/absences" class="inline">
        <p><label for="day">日付（空欄ならすべて）</label><input id="day" name="day" type="date" value="{{day}}"> <button type="submit">表示</button></p>
        </form>
        {{^empty(items)}}
        <ul class="cards">
        {{#items}}<li><strong>{{report.child}}</strong>（{{className}}） · {{report.day}} · {{report.kind}} · {{report.reason}}
        {{#report.note}}<p>{{report.note}}</p>{{/report.note}}<p class="meta">保護者: {{guardian}}{{#report.acknowledged}} · ✓ {{report.acknowledged}}{{/report.acknowledged}}</p>
        {{#open}}<form method="post" action="/schools/{{organizationId}}/absences/{{id}}/acknowledge"><input type="hidden" name="csrf" value="{{csrf}}"><button type="submit" class="small">確認しました<span class="visually-hidden">（{{report.child}}、{{report.day}}）</span></button></form>{{/open}}
        </li>{{/items}}
        </ul>
        {{/empty(items)}}
        {{#empty(items)}}<p>連絡はありません。</p>{{/empty(items)}}
        """

    static let classes = """
        <nav class="crumbs" aria-label="パンくずリスト"><a href="/schools/{{organizationId}}">お知らせ一覧</a></nav>
        <h1>クラス</h1>
        \(formErrors)
        {{^empty(items)}}
        <ul class="cards">{{#items}}<li><h2><a href="/schools/{{organizationId}}/children?class={{id}}">{{name}}</a></h2>
        <p class="meta">{{#grade}}{{grade}}年 · {{/grade}}担任: {{#empty(teachers)}}なし{{/empty(teachers)}}</p>
        {{^empty(teachers)}}<ul class="inline-list">{{#teachers}}<li>{{name}} <form method="post" action="/schools/{{organizationId}}/classes/{{id}}/teachers/{{accountId}}/remove" class="inline-form"><input type="hidden" name="csrf" value="{{csrf}}"><button type="submit" class="small secondary">外す<span class="visually-hidden">（{{name}}）</span></button></form></li>{{/teachers}}</ul>{{/empty(teachers)}}
        {{^empty(staff)}}<form method="post" action="/schools/{{organizationId}}/classes/{{id}}/teachers" class="inline">
        <input type="hidden" name="csrf" value="{{csrf}}">
        <p><label for="teacher-{{id}}">担任を追加（{{name}}）</label><select id="teacher-{{id}}" name="account">{{#staff}}<option value="{{accountId}}">{{name}}</option>{{/staff}}</select>
        <button type="submit" class="small">追加</button></p>
        </form>{{/empty(staff)}}
        </li>{{/items}}</ul>
        {{/empty(items)}}
        {{#empty(items)}}<p>クラスはまだありません。</p>{{/empty(items)}}
        <section aria-labelledby="new-class-heading">
        <h2 id="new-class-heading">クラスを作る（管理職）</h2>
        <form method="post" action="/schools/{{organizationId}}/classes" class="stack">
        <input type="hidden" name="csrf" value="{{csrf}}">
        <p><label for="class-name">クラス名</label><input id="class-name" name="name" required maxlength="50"></p>
        <p><label for="class-grade">学年（任意）</label><input id="class-grade" name="grade" type="number" min="0" max="12" inputmode="numeric"></p>
        <p><button type="submit">作成する</button></p>
        </form>
        </section>
        """

    static let noticeLists = """
        <nav class="crumbs" aria-label="パンくずリスト"><a href="/schools/{{organizationId}}">お知らせ一覧</a></nav>
        <h1>名簿</h1>
        <p>部活動や行事の班など、学年やクラスとは別にお知らせを送る相手をまとめます。お知らせの作成画面で選べます。</p>
        \(formErrors)
        {{^empty(items)}}
        <ul class="cards">{{#items}}<li><a href="/schools/{{organizationId}}/lists/{{id}}">{{name}}</a>（{{count}}人）<p class="meta">{{children}}</p></li>{{/items}}</ul>
        {{/empty(items)}}
        {{#empty(items)}}<p>名簿はまだありません。</p>{{/empty(items)}}
        <section aria-labelledby="new-list-heading">
        <h2 id="new-list-heading">名簿をつくる</h2>
        <form method="post" action="/schools/{{organizationId}}/lists" class="stack">
        <input type="hidden" name="csrf" value="{{csrf}}">
        {{#form}}{{> list-picker}}{{/form}}
        <p><button type="submit">つくる</button></p>
        </form>
        </section>
        """

    static let noticeList = """
        <nav class="crumbs" aria-label="パンくずリスト"><a href="/schools/{{organizationId}}/lists">名簿</a></nav>
        <h1>名簿「{{form.listName}}」</h1>
        \(formErrors)
        <form method="post" action="/schools/{{organizationId}}/lists/{{listId}}" class="stack">
        <input type="hidden" name="csrf" value="{{csrf}}">
        {{#form}}{{> list-picker}}{{/form}}
        <p><button type="submit">保存する</button></p>
        </form>
        <form method="post" action="/schools/{{organizationId}}/lists/{{listId}}/delete" class="stack">
        <input type="hidden" name="csrf" value="{{csrf}}">
        <p><button type="submit" class="secondary">この名簿を削除する</button></p>
        </form>
        """

    /// A list's name and its children, ticked by class (a class with ticked children opens).
    static let listPicker = """
        <p><label for="list-name">名簿の名前</label><input id="list-name" name="name" required maxlength="50" value="{{listName}}"></p>
        <fieldset><legend>子ども</legend>
        {{#classes}}<details{{#open}} open{{/open}}><summary>{{name}}</summary>
        {{#children}}<p><input type="checkbox" id="child-{{id}}" name="child" value="{{id}}"{{#checked}} checked{{/checked}}> <label for="child-{{id}}">{{name}}</label></p>{{/children}}
        </details>{{/classes}}
        {{#empty(classes)}}<p>子どもが登録されていません。</p>{{/empty(classes)}}
        </fieldset>
        """

    static let rosterChildren = """
        <nav class="crumbs" aria-label="パンくずリスト"><a href="/schools/{{organizationId}}/classes">クラス</a></nav>
        <h1>子ども</h1>
        \(formErrors)
        <form method="get" action="/schools/{{organizationId}}/children" class="inline">
        <p><label for="class-filter">クラス</label><select id="class-filter" name="class"><option value="">すべて</option>{{#classChoices}}<option value="{{id}}"{{#selected}} selected{{/selected}}>{{name}}</option>{{/classChoices}}</select>
        <button type="submit">表示</button></p>
        </form>
        {{^empty(items)}}
        <ul class="cards">{{#items}}<li><a href="/schools/{{organizationId}}/children/{{id}}">{{name}}</a>{{#className}}<p class="meta">{{className}}</p>{{/className}}</li>{{/items}}</ul>
        {{/empty(items)}}
        {{#empty(items)}}<p>子どもはまだ登録されていません。</p>{{/empty(items)}}
        <section aria-labelledby="new-child-heading">
        <h2 id="new-child-heading">子どもを登録する</h2>
        <form method="post" action="/schools/{{organizationId}}/children" class="stack">
        <input type="hidden" name="csrf" value="{{csrf}}">
        <p><label for="child-name">名前</label><input id="child-name" name="name" required maxlength="50"></p>
        <p><label for="child-class">クラス</label><select id="child-class" name="class"><option value="">なし</option>{{#classChoices}}<option value="{{id}}"{{#selected}} selected{{/selected}}>{{name}}</option>{{/classChoices}}</select></p>
        <p><button type="submit">登録する</button></p>
        </form>
        </section>
        """

    static let rosterChild = """
        <nav class="crumbs" aria-label="パンくずリスト"><a href="/schools/{{organizationId}}/children">子ども</a></nav>
        <h1>{{child.name}}</h1>
        <p class="meta">{{child.organizationName}}{{#child.className}} · {{child.className}}{{/child.className}}</p>
        \(formErrors)
        {{#code}}
        <section aria-labelledby="code-heading" class="preview">
        <h2 id="code-heading">登録コード</h2>
        <p class="code"><strong>{{code}}</strong></p>
        <p>保護者に渡してください。保護者は「子どもと学校・園」でこのコードを入力します。期限: {{codeExpires}}。この画面を閉じると、もう表示できません。</p>
        </section>
        {{/code}}
        <section aria-labelledby="guardians-heading">
        <h2 id="guardians-heading">保護者</h2>
        {{^empty(guardians)}}
        <table><caption class="visually-hidden">保護者の一覧</caption>
        <thead><tr><th scope="col">名前</th><th scope="col">メール</th><th scope="col">電話</th><th scope="col">受け取り方</th><th scope="col">サイトの登録</th></tr></thead>
        <tbody>{{#guardians}}<tr><td>{{name}}</td><td>{{email}}</td><td>{{phone}}</td><td>{{delivery}}</td><td>{{#hasAccount}}あり{{/hasAccount}}{{^hasAccount}}なし{{/hasAccount}}</td></tr>{{/guardians}}</tbody>
        </table>
        {{/empty(guardians)}}
        {{#empty(guardians)}}<p>保護者はまだいません。</p>{{/empty(guardians)}}
        <form method="post" action="/schools/{{organizationId}}/children/{{child.id}}/link-code" class="actions">
        <input type="hidden" name="csrf" value="{{csrf}}"><button type="submit">登録コードを発行する</button>
        </form>
        </section>
        <section aria-labelledby="new-guardian-heading">
        <h2 id="new-guardian-heading">メールで受け取る保護者を登録する</h2>
        <p>サイトを使わない保護者も、メールでお知らせを受け取れます（携帯のアドレスも可）。</p>
        <form method="post" action="/schools/{{organizationId}}/children/{{child.id}}/guardians" class="stack">
        <input type="hidden" name="csrf" value="{{csrf}}">
        <p><label for="guardian-name">名前</label><input id="guardian-name" name="name" required maxlength="50"></p>
        <p><label for="guardian-email">メールアドレス</label><input id="guardian-email" name="email" type="email" required maxlength="254"></p>
        <p><label for="guardian-phone">電話（任意、緊急時の連絡用）</label><input id="guardian-phone" name="phone" type="tel" maxlength="30"></p>
        <p><button type="submit">登録する</button></p>
        </form>
        </section>
        """

    static let admin = """
        <h1>町の管理</h1>
        \(formErrors)
        <section aria-labelledby="orgs-heading">
        <h2 id="orgs-heading">学校・園</h2>
        {{^empty(organizations)}}<ul class="cards">{{#organizations}}<li>{{name}} <span class="meta">（{{kind}}）</span></li>{{/organizations}}</ul>{{/empty(organizations)}}
        {{#empty(organizations)}}<p>まだ登録されていません。</p>{{/empty(organizations)}}
        <form method="post" action="/admin/organizations" class="stack">
        <input type="hidden" name="csrf" value="{{csrf}}">
        <p><label for="org-kind">種類</label><select id="org-kind" name="kind">{{#kinds}}<option value="{{value}}">{{label}}</option>{{/kinds}}</select></p>
        <p><label for="org-name">名前</label><input id="org-name" name="name" required maxlength="100"></p>
        <p><label for="org-admin">管理職のメールアドレス（サイトに登録済みの人）</label><input id="org-admin" name="adminEmail" type="email" required maxlength="254"></p>
        <p><button type="submit">学校・園を登録する</button></p>
        </form>
        </section>
        <section aria-labelledby="roles-heading">
        <h2 id="roles-heading">町の役割</h2>
        <form method="post" action="/admin/roles" class="stack">
        <input type="hidden" name="csrf" value="{{csrf}}">
        <p><label for="role-email">メールアドレス（サイトに登録済みの人）</label><input id="role-email" name="email" type="email" required maxlength="254"></p>
        <p><label for="role">役割</label><select id="role" name="role">{{#roles}}<option value="{{value}}">{{label}}</option>{{/roles}}</select></p>
        <p><button type="submit">役割を与える</button></p>
        </form>
        </section>
        """

    static let staff = """
        <nav class="crumbs" aria-label="パンくずリスト"><a href="/schools/{{organizationId}}">お知らせ一覧</a></nav>
        <h1>職員と設定</h1>
        \(formErrors)
        <ul class="cards">{{#members}}<li>{{name}} <span class="meta">（{{role}}{{#maySkip}}・緊急時は承認なしで送信可{{/maySkip}}）</span>
        {{#admin}}<form method="post" action="/schools/{{organizationId}}/staff/{{accountId}}/remove" class="inline-form"><input type="hidden" name="csrf" value="{{csrf}}"> <button type="submit" class="small secondary">職員から外す<span class="visually-hidden">（{{name}}）</span></button></form>{{/admin}}
        </li>{{/members}}</ul>
        <section aria-labelledby="add-staff-heading">
        <h2 id="add-staff-heading">職員を追加・変更する（管理職）</h2>
        <form method="post" action="/schools/{{organizationId}}/staff" class="stack">
        <input type="hidden" name="csrf" value="{{csrf}}">
        <p><label for="staff-email">メールアドレス（サイトに登録済みの人）</label><input id="staff-email" name="email" type="email" required maxlength="254"></p>
        <p><label for="staff-role">役割</label><select id="staff-role" name="role"><option value="staff">職員</option><option value="org_admin">管理職</option></select></p>
        <p><input type="checkbox" id="may-skip" name="maySkip"> <label for="may-skip">緊急のお知らせを承認なしで送れる</label></p>
        <p><button type="submit">保存する</button></p>
        </form>
        </section>
        {{#settings}}
        <section aria-labelledby="settings-heading">
        <h2 id="settings-heading">学校・園の設定（管理職）</h2>
        <form method="post" action="/schools/{{organizationId}}/settings" class="stack">
        <input type="hidden" name="csrf" value="{{csrf}}">
        <p><input type="checkbox" id="requires-approval" name="requiresApproval"{{#requiresApproval}} checked{{/requiresApproval}}> <label for="requires-approval">職員のお知らせは管理職の承認後に送る</label></p>
        <p><label for="escalate-after">緊急のお知らせに確認がないとき、再通知するまでの時間（分、1〜1440）</label><input id="escalate-after" name="escalateAfterMinutes" type="number" min="1" max="1440" required value="{{escalateAfterMinutes}}"></p>
        <fieldset><legend>夜間の通知を控える時間（緊急のお知らせは除く。空欄なら控えない）</legend>
        <p><label for="quiet-start">始まり</label><input id="quiet-start" name="quietStart" type="time" value="{{quietStart}}"></p>
        <p><label for="quiet-end">終わり</label><input id="quiet-end" name="quietEnd" type="time" value="{{quietEnd}}"></p>
        </fieldset>
        <p><label for="absence-reasons">欠席・遅刻・早退の理由の選択肢（1行に1つ、20個まで）</label><textarea id="absence-reasons" name="absenceReasons" rows="6" required>{{absenceReasons}}</textarea></p>
        <p><button type="submit">設定を保存する</button></p>
        </form>
        </section>
        {{/settings}}
        """

    static let suspensions = """
        <nav class="crumbs" aria-label="パンくずリスト"><a href="/moderation">モデレーション</a></nav>
        <h1>利用停止</h1>
        \(formErrors)
        <p>{{#showEnded}}終わったものも表示しています。<a href="/moderation/suspensions">いま続いているものだけ表示</a>{{/showEnded}}{{^showEnded}}いま続いている利用停止です。<a href="/moderation/suspensions?ended=1">終わったものも表示</a>{{/showEnded}}</p>
        {{^empty(items)}}
        <ul class="cards">{{#items}}<li><strong>{{name}}</strong> <span class="meta">（{{scope}}・{{since}} から {{until}}）</span>
        <p>{{reason}}</p>
        <details><summary>解除する・期間を変える<span class="visually-hidden">（{{name}}）</span></summary>
        <form method="post" action="/moderation/suspensions/{{id}}/lift" class="stack">
        <input type="hidden" name="csrf" value="{{csrf}}">
        <p><label for="lift-reason-{{id}}">解除する理由（記録に残り、本人に伝わります）</label><input id="lift-reason-{{id}}" name="reason" required maxlength="500"></p>
        <p><button type="submit" class="small">いま解除する</button></p>
        </form>
        <form method="post" action="/moderation/suspensions/{{id}}/until" class="stack">
        <input type="hidden" name="csrf" value="{{csrf}}">
        <p><label for="until-{{id}}">新しい終わりの日時</label><input id="until-{{id}}" name="until" type="datetime-local" required value="{{untilInput}}"></p>
        <p><label for="until-reason-{{id}}">変える理由</label><input id="until-reason-{{id}}" name="reason" required maxlength="500"></p>
        <p><button type="submit" class="small secondary">期間を変える</button></p>
        </form>
        </details>
        </li>{{/items}}</ul>
        {{#next}}<p><a href="{{next}}">続き</a></p>{{/next}}
        {{/empty(items)}}
        {{#empty(items)}}<p>利用停止中の人はいません。</p>{{/empty(items)}}
        """

    static let groupMembers = """
        <nav class="crumbs" aria-label="パンくずリスト"><a href="/groups/{{groupId}}">{{groupName}}</a></nav>
        <h1>メンバー</h1>
        \(formErrors)
        <div id="members" data-live-region>
        {{^empty(requests)}}
        <section aria-labelledby="requests-heading">
        <h2 id="requests-heading">参加の申し込み</h2>
        <ul class="cards">
        {{#requests}}<li><strong>{{name}}</strong> <span class="meta"><time>{{at}}</time></span>{{#message}}<p>{{message}}</p>{{/message}}
        <div class="post-actions">
        <form method="post" action="/groups/{{groupId}}/requests/{{accountId}}/approve"><input type="hidden" name="csrf" value="{{csrf}}"><button type="submit" class="small">承認する<span class="visually-hidden">（{{name}}）</span></button></form>
        <form method="post" action="/groups/{{groupId}}/requests/{{accountId}}/deny"><input type="hidden" name="csrf" value="{{csrf}}"><button type="submit" class="small secondary">断る<span class="visually-hidden">（{{name}}）</span></button></form>
        </div></li>{{/requests}}
        </ul>
        </section>
        {{/empty(requests)}}
        <section aria-labelledby="members-heading">
        <h2 id="members-heading">メンバー</h2>
        <ul class="cards">{{#members}}<li>{{name}} <span class="meta">（{{role}}）</span>
        {{#removable}}<details id="member-actions-{{accountId}}"><summary>外す・参加を禁止する<span class="visually-hidden">（{{name}}）</span></summary>
        <div class="post-actions">
        <form method="post" action="/groups/{{groupId}}/members/{{accountId}}/remove"><input type="hidden" name="csrf" value="{{csrf}}"><button type="submit" class="small secondary">メンバーから外す<span class="visually-hidden">（{{name}}）</span></button></form>
        </div>
        <form method="post" action="/groups/{{groupId}}/members/{{accountId}}/ban" class="stack">
        <input type="hidden" name="csrf" value="{{csrf}}">
        <p><label for="ban-reason-{{accountId}}">禁止する理由（本人には見えません）</label><input id="ban-reason-{{accountId}}" name="reason" maxlength="500"></p>
        <p><button type="submit" class="small secondary">参加を禁止する<span class="visually-hidden">（{{name}}）</span></button></p>
        </form>
        </details>{{/removable}}
        </li>{{/members}}</ul>
        {{#next}}<p><a href="{{next}}">続き</a></p>{{/next}}
        </section>
        {{#moderates}}
        <section aria-labelledby="invitations-heading">
        <h2 id="invitations-heading">招待</h2>
        {{^empty(invitations)}}
        <ul class="cards">{{#invitations}}<li>{{name}} <span class="meta"><time>{{at}}</time> に招待</span>
        <form method="post" action="/groups/{{groupId}}/invitations/{{accountId}}/withdraw" class="inline-form"><input type="hidden" name="csrf" value="{{csrf}}"> <button type="submit" class="small secondary">取り消す<span class="visually-hidden">（{{name}}への招待）</span></button></form></li>{{/invitations}}</ul>
        {{/empty(invitations)}}
        {{#empty(invitations)}}<p>返事を待っている招待はありません。</p>{{/empty(invitations)}}
        <form method="post" action="/groups/{{groupId}}/invitations" class="stack">
        <input type="hidden" name="csrf" value="{{csrf}}">
        <p><label for="invite-email">招待する人のメールアドレス（回覧板に登録しているもの）</label><input id="invite-email" name="email" type="email" required maxlength="254" autocomplete="off"></p>
        <p><button type="submit">招待する</button></p>
        </form>
        </section>
        <section aria-labelledby="bans-heading">
        <h2 id="bans-heading">参加を禁止している人</h2>
        {{^empty(bans)}}
        <ul class="cards">{{#bans}}<li>{{name}} <span class="meta">（{{until}}）</span>{{#reason}}<p>{{reason}}</p>{{/reason}}
        <form method="post" action="/groups/{{groupId}}/bans/{{accountId}}/lift" class="inline-form"><input type="hidden" name="csrf" value="{{csrf}}"><button type="submit" class="small secondary">禁止を解除する<span class="visually-hidden">（{{name}}）</span></button></form></li>{{/bans}}</ul>
        {{/empty(bans)}}
        {{#empty(bans)}}<p>いません。</p>{{/empty(bans)}}
        </section>
        {{/moderates}}
        </div>
        """
}

/// The one stylesheet: mobile first (most residents read on phones), system fonts, colours
/// that keep 4.5:1 contrast, a focus ring everyone can see.
enum Stylesheet {
    static let text = """
        *, *::before, *::after { box-sizing: border-box; }
        html { -webkit-text-size-adjust: 100%; }
        body { margin: 0; font-family: system-ui, -apple-system, "Hiragino Sans", "Noto Sans JP", "Yu Gothic", sans-serif;
          font-size: 1rem; line-height: 1.7; color: #1b1b1b; background: #fafaf7; }
        a { color: #0b55a3; text-decoration: underline; text-underline-offset: 0.15em; }
        a:hover { color: #083f7a; }
        :focus-visible { outline: 3px solid #1b1b1b; outline-offset: 2px; box-shadow: 0 0 0 6px #ffd34d; }
        .visually-hidden { position: absolute; width: 1px; height: 1px; padding: 0; margin: -1px; overflow: hidden; clip: rect(0 0 0 0); white-space: nowrap; border: 0; }
        .skip { position: absolute; left: -9999px; top: 0; background: #fff; padding: 0.5rem 1rem; z-index: 10; }
        .skip:focus { left: 0.5rem; top: 0.5rem; }
        header.site { background: #1f4e3d; color: #fff; padding: 0.5rem 1rem; }
        header.site a, header.site button.link { color: #fff; }
        .brand { margin: 0; font-weight: 700; font-size: 1.25rem; }
        .brand a { text-decoration: none; }
        nav ul { list-style: none; margin: 0.25rem 0 0; padding: 0; display: flex; flex-wrap: wrap; gap: 0.25rem 1rem; }
        nav form { display: inline; }
        main { max-width: 46rem; margin: 0 auto; padding: 1rem; }
        main:focus { outline: none; }
        footer.site { max-width: 46rem; margin: 2rem auto 0; padding: 1rem; color: #4a4a4a; font-size: 0.875rem; border-top: 1px solid #d6d6d0; }
        h1 { font-size: 1.5rem; line-height: 1.4; margin: 0.5rem 0 1rem; }
        h2 { font-size: 1.2rem; margin: 1.5rem 0 0.5rem; }
        .meta, .hint, .crumbs { color: #4a4a4a; font-size: 0.875rem; margin: 0.25rem 0; }
        .hint { display: block; }
        nav.crumbs { display: block; }
        .notice { background: #e7f4ea; border-left: 4px solid #1f6b3a; padding: 0.5rem 0.75rem; }
        .errors { background: #fdecea; border-left: 4px solid #b3261e; padding: 0.5rem 0.75rem; margin-bottom: 1rem; }
        .errors h2 { margin-top: 0; font-size: 1rem; }
        .tag { display: inline-block; border: 1px solid #4a4a4a; border-radius: 0.25rem; padding: 0 0.35rem; font-size: 0.8rem; }
        li.urgent { border-left: 6px solid #b3261e; }
        .urgent-tag { border-color: #b3261e; color: #8c1d18; font-weight: 700; }
        .badge { background: #b3261e; color: #fff; border-radius: 1rem; padding: 0 0.5rem; font-size: 0.8rem; }
        ul.cards, ol.posts { list-style: none; margin: 0; padding: 0; }
        ul.cards > li, ol.posts > li { background: #fff; border: 1px solid #d6d6d0; border-radius: 0.5rem; padding: 0.75rem 1rem; margin: 0 0 0.75rem; }
        ul.cards h2 { margin: 0; font-size: 1.1rem; }
        .post.muted { background: #f1f1ec; }
        .post .body p { margin: 0.25rem 0; white-space: pre-wrap; overflow-wrap: anywhere; }
        .post-actions { display: flex; flex-wrap: wrap; gap: 0.5rem; align-items: center; margin-top: 0.5rem; }
        .post-actions form { display: inline; }
        ul.files { list-style: none; margin: 0.5rem 0; padding: 0; display: flex; flex-wrap: wrap; gap: 0.5rem; }
        ul.files img { display: block; max-width: min(100%, 20rem); height: auto; border-radius: 0.25rem; border: 1px solid #d6d6d0; }
        ul.files-chosen { margin: 0.25rem 0; padding-left: 1.25rem; }
        ul.files-chosen li.error { color: #a4000f; }
        .reactions span { display: inline-block; margin-right: 0.5rem; font-size: 0.875rem; }
        label { display: block; font-weight: 600; }
        fieldset { border: 1px solid #d6d6d0; border-radius: 0.5rem; margin: 0 0 1rem; }
        fieldset label { display: inline; font-weight: 400; }
        legend { font-weight: 600; }
        input, select, textarea { font: inherit; width: 100%; max-width: 100%; padding: 0.5rem; border: 1px solid #6b6b6b; border-radius: 0.375rem; background: #fff; color: #1b1b1b; }
        input[type=radio], input[type=checkbox] { width: auto; }
        input[type=radio] + label, input[type=checkbox] + label { display: inline; font-weight: 400; }
        button, .button { font: inherit; display: inline-block; padding: 0.5rem 1.1rem; border-radius: 0.375rem; border: 2px solid #0b55a3;
          background: #0b55a3; color: #fff; cursor: pointer; text-decoration: none; min-height: 44px; }
        button.secondary, .button.secondary { background: #fff; color: #0b55a3; }
        button.danger { background: #a3130b; border-color: #a3130b; }
        button.small, a.small { min-height: 36px; padding: 0.2rem 0.7rem; font-size: 0.875rem; }
        button.link { background: none; border: none; padding: 0; min-height: 0; text-decoration: underline; color: inherit; }
        .actions { display: flex; flex-wrap: wrap; gap: 0.5rem; align-items: center; margin: 0.5rem 0 1rem; }
        .actions form { display: inline; }
        form.inline p { display: flex; flex-wrap: wrap; gap: 0.5rem; align-items: end; }
        form.inline label { flex-basis: 100%; }
        form.inline input { flex: 1; min-width: 10rem; }
        .filters { display: grid; gap: 0.25rem 1rem; grid-template-columns: 1fr; margin-bottom: 1rem; }
        .filters p { margin: 0; }
        .live-status { font-size: 0.875rem; color: #4a4a4a; }
        .live-note { margin-right: 0.5rem; }
        form.inline-form { display: inline; }
        ul.inline-list { list-style: none; padding: 0; display: flex; flex-wrap: wrap; gap: 0.5rem 1rem; }
        ul.plain { list-style: none; padding: 0; margin: 0; }
        p.notice-line { border-left: 4px solid #1a5fb4; padding-left: 0.75rem; }
        blockquote.body { margin: 0.5rem 0; padding: 0.5rem 1rem; background: #fff; border-left: 4px solid #6b6b6b; }
        table { border-collapse: collapse; width: 100%; background: #fff; }
        th, td { border: 1px solid #d6d6d0; padding: 0.4rem 0.6rem; text-align: left; vertical-align: top; }
        .excerpt { margin: 0.25rem 0; overflow-wrap: anywhere; }
        progress { width: 100%; height: 1.25rem; }
        dl.counts { display: grid; grid-template-columns: auto 1fr; gap: 0.25rem 1rem; }
        dl.counts dd { margin: 0; font-weight: 600; }
        .indent { margin-left: 1.5rem; }
        section.preview { background: #fff; border: 2px dashed #6b6b6b; border-radius: 0.5rem; padding: 0.5rem 1rem; margin-bottom: 1rem; }
        .warning { background: #fff4e5; border-left: 4px solid #8a5300; padding: 0.5rem 0.75rem; }
        .body.carrier { font-family: "IPAGothic", "MS Gothic", monospace; }
        caption { text-align: left; font-weight: 600; padding: 0.25rem 0; }
        .code strong { font-size: 1.5rem; letter-spacing: 0.1em; font-family: ui-monospace, monospace; }
        dl.profile dt { font-weight: 600; }
        dl.profile dd { margin: 0 0 0.5rem; }
        @media (min-width: 40rem) {
          header.site { display: flex; justify-content: space-between; align-items: center; }
          nav ul { margin: 0; }
          .filters { grid-template-columns: 1fr 1fr auto; align-items: end; }
        }
        """
}

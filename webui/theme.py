"""The app's look: sakura pink on cream, the page's CSS and the blossom logo (Gradio 6 takes the theme and the CSS
at launch)."""

from __future__ import annotations

import gradio as gr

SAKURA = gr.themes.Color(
    c50="#fff1f5", c100="#ffe4ec", c200="#fecdd9", c300="#fda4bc", c400="#fb7199", c500="#f0487a",
    c600="#d92d63", c700="#b81f50", c800="#991b45", c900="#7f1b3e", c950="#4a081f", name="sakura",
)
CREAM, CARD, INK, MUTED, LINE = "#fff8ef", "#fffdf9", "#3d2a2f", "#6b5459", "#f3dfd3"
SYSTEM_FONTS = ("ui-sans-serif", "system-ui", "Segoe UI", "Roboto", "Helvetica Neue", "Arial", "sans-serif")


def sakura_theme() -> gr.themes.Base:
    """Sakura pink on cream. Text colours meet WCAG AA on their backgrounds (≥ 4.5:1); fonts are local."""
    return gr.themes.Soft(
        primary_hue=SAKURA,
        secondary_hue=SAKURA,
        neutral_hue=gr.themes.colors.stone,
        radius_size=gr.themes.sizes.radius_lg,
        font=(gr.themes.LocalFont("Quicksand", weights=(400, 700)), *SYSTEM_FONTS),
        font_mono=("ui-monospace", "SFMono-Regular", "Menlo", "Consolas", "monospace"),
    ).set(
        body_background_fill=CREAM,
        body_background_fill_dark="#1f1418",
        block_background_fill_dark="#2a1d22",
        block_border_color_dark="#4a2a35",
        button_primary_background_fill_dark="*primary_600",
        button_primary_text_color_dark="#ffffff",
        body_text_color=INK,
        body_text_color_subdued=MUTED,
        block_background_fill=CARD,
        block_border_color=LINE,
        block_border_width="1px",
        block_radius="18px",
        block_shadow="0 2px 12px rgba(185, 31, 80, 0.07)",
        block_label_background_fill="*primary_50",
        block_label_text_color="*primary_800",
        block_title_text_color="*primary_800",
        block_info_text_color=MUTED,
        panel_background_fill=CREAM,
        panel_border_color=LINE,
        background_fill_primary=CARD,
        background_fill_secondary=CREAM,
        border_color_primary=LINE,
        input_background_fill="#ffffff",
        input_border_color="*primary_200",
        button_primary_background_fill="*primary_600",
        button_primary_background_fill_hover="*primary_700",
        button_primary_text_color="#ffffff",
        button_primary_text_color_hover="#ffffff",
        button_secondary_background_fill="*primary_50",
        button_secondary_background_fill_hover="*primary_100",
        button_secondary_text_color="*primary_800",
        button_secondary_border_color="*primary_200",
        button_large_radius="999px",
        button_medium_radius="999px",
        checkbox_label_background_fill_selected="*primary_100",
        checkbox_label_text_color_selected="*primary_900",
        checkbox_background_color_selected="*primary_600",
        checkbox_border_color="*primary_300",
        checkbox_border_color_focus="*primary_500",
        slider_color="*primary_600",
        color_accent="*primary_600",
        color_accent_soft="*primary_100",
        loader_color="*primary_600",
        link_text_color="*primary_700",
        link_text_color_hover="*primary_800",
    )


CSS = """
.gradio-container { max-width: 1320px !important; margin: 0 auto !important; overflow: clip !important; }
@media (min-width: 768px) { #result-col { position: sticky; top: 12px; align-self: flex-start; } }
#hero { text-align: center; padding: 18px 12px 4px; }
#hero h1 { font-size: 2.1rem; font-weight: 700; color: #991b45; margin: 0; letter-spacing: .01em;
           display: inline-flex; align-items: center; gap: .45rem; }
#hero h1 svg { width: 1.9rem; height: 1.9rem; flex: none; }
#hero p { color: #6b5459; margin: .35rem auto 0; max-width: 44rem; font-size: 1.02rem; }
#run-btn { font-size: 1.1rem; font-weight: 700; min-height: 52px; box-shadow: 0 4px 14px rgba(217, 45, 99, .28); }
#style-gallery .grid-container, #all-styles .grid-container { grid-template-columns: repeat(4, minmax(0, 1fr)) !important; }
#style-gallery .thumbnail-item, #all-styles .thumbnail-item { border-radius: 14px !important; }
#style-gallery .caption-label, #all-styles .caption-label { font-weight: 700; font-size: .78rem; max-width: 92%; }
#all-styles .grid-wrap { max-height: none !important; min-height: 0 !important; }
#all-styles-status { padding: 0 4px; }
#all-styles-status p { margin: 0; color: var(--body-text-color-subdued); font-size: .9rem; }
#style-info { background: #fff1f5; border: 1px solid #fecdd9; border-radius: 14px; padding: 10px 14px; }
#style-info p { margin: 0; }
#status { min-height: 1.5em; }
#batch-style { background: #fff1f5; border: 1px solid #fecdd9; border-radius: 14px; padding: 6px 14px; }
#batch-status { padding-left: 2px; }
#batch-status table, #batch-status td, #batch-status th { font-family: var(--font) !important; }
.style-off { display: flex; flex-wrap: wrap; gap: 8px; margin: 4px 0 0; padding: 0; list-style: none; }
.style-off li { opacity: .75; border: 1px dashed #d6c3bb; border-radius: 12px; padding: 6px 10px; color: #6b5459;
                background: #fbf4ee; font-size: .9rem; cursor: not-allowed; }
.style-off li b { color: #3d2a2f; }
#footer { text-align: center; color: #6b5459; font-size: .85rem; padding: 10px 8px 18px; }
#footer ul { list-style: none; padding: 0; margin: 6px 0; }
#footer li { margin: 2px 0; }
.dark #hero h1 { color: #fda4bc; }
.dark #hero p, .dark #footer { color: #d6c3bb; }
.dark #style-info, .dark #batch-style { background: #3a1a26; border-color: #7f1b3e; }
.dark .style-off li { background: #2a2024; color: #d6c3bb; border-color: #6b5459; }
.dark .style-off li b { color: #fff1f5; }
@media (max-width: 640px) {
  #hero h1 { font-size: 1.6rem; }
  #hero p { font-size: .95rem; }
  .gradio-container { padding: 0 6px !important; }
  #style-gallery .grid-container, #all-styles .grid-container { grid-template-columns: repeat(3, minmax(0, 1fr)) !important; }
  .opt-row, .opt-row > .form { flex-wrap: wrap !important; flex-direction: column !important; }
  .opt-row > *, .opt-row > .form > * { width: 100% !important; min-width: 100% !important; }
}
"""

BLOSSOM = (
    '<svg viewBox="0 0 64 64" aria-hidden="true"><g fill="#f0487a">'
    + "".join(f'<ellipse cx="32" cy="17" rx="10" ry="14" transform="rotate({a} 32 32)"/>' for a in (0, 72, 144, 216, 288))
    + '</g><circle cx="32" cy="32" r="7" fill="#fecdd9"/><circle cx="32" cy="32" r="3" fill="#b81f50"/></svg>'
)

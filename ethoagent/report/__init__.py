"""Self-contained HTML reports built from pipeline sections (``html``) and the end-to-end
demo that fills one (``demo``)."""

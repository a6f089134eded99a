-- Installs (issue 18, item 4; PRODUCT.md §4.10): app installs of an hour, post-view plus
-- post-engagement, from X's MOBILE_CONVERSION group, which the sync asks only about app
-- campaigns (objective APP_INSTALLS or APP_ENGAGEMENTS). NULL = not asked (a web campaign, or a
-- row stored before this column): unknown, not 0. `conversions` is web conversions only.
ALTER TABLE stats_hourly ADD COLUMN installs BIGINT;

"""Screen tests: lists, filters, exports, object pages, navigation, query counts."""

// /admin/usage: everyone's usage with user and channel filters and top lists.
import { UsageView } from "../usage-view";

export default function AdminUsagePage() {
  return <UsageView admin />;
}

// /usage: the signed-in user's own usage.
import { UsageView } from "./usage-view";

export default function UsagePage() {
  return <UsageView admin={false} />;
}

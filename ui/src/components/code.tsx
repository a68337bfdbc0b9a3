// A titled code block with a copy button.
import { CopyButton } from "./ui";

export function CodeBlock({ title, code, testId }: { title: string; code: string; testId?: string }) {
  return (
    <div className="code-block" data-testid={testId}>
      <div className="code-block-head">
        <span>{title}</span>
        <CopyButton text={code} />
      </div>
      <pre>{code}</pre>
    </div>
  );
}

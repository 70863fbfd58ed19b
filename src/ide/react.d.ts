/**
 * The little of React's API the page calls. React ships no types of its own
 * and `@types/react` is not a dependency: GraphiQL's props are typed in
 * main.ts instead.
 */
declare module 'react' {
  export function createElement(type: unknown, props?: Record<string, unknown> | null, ...children: unknown[]): unknown;
}

declare module 'react-dom/client' {
  export function createRoot(container: Element): { render(node: unknown): void };
}
